"""Ops actions on incidents (confirm now, send an authentication link, cancel, refresh
from Stripe): the verbs, the confirmation page's form and ``OpsActionsMixin``, which
``IncidentAdmin`` uses for its bulk actions, its buttons and the one confirmation page.
The work itself goes through ``payments.recovery.actions``.
"""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.http import urlencode
from django.utils.text import capfirst
from django.utils.timesince import timesince
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from payments.admin.common import (
    EMPTY,
    intent_status_label,
    money_unbroken,
    timestamp,
    url_of_this_site,
)
from payments.monitoring.models import Incident
from payments.recovery import actions as ops_actions
from payments.recovery.models import OpsAction, OpsActionItem
from payments.recovery.tasks import ops_action_run_task
from payments.telemetry import counters, outages

Action = OpsAction.Kind
# A confirmation page lists every payment; a selection of the whole list (200,000 rows)
# would make one nobody reads. Bulk work past this goes in batches.
OPS_MAX_SELECTED = 500


@dataclass(frozen=True)
class OpsVerb:
    permission: str  # the codename on Incident (recovery.actions.ACTION_PERMISSIONS)
    button: str  # on the incident page, and the bulk action's name
    question: str  # "Confirm %(payments)s?"
    nothing: str  # when every selected payment would be skipped
    does: str  # what happens, in a sentence
    submit: str


OPS_VERBS = {
    Action.CONFIRM: OpsVerb(
        ops_actions.ACTION_PERMISSIONS[Action.CONFIRM], _("Confirm now"),
        _("Confirm %(payments)s?"),
        _("No payment here can be confirmed"),
        _("The server confirms each payment at Stripe now: the shopper already passed the "
          "bank's check, the card is charged and the order becomes paid."),
        _("Yes, confirm")),
    Action.SEND_LINK: OpsVerb(
        ops_actions.ACTION_PERMISSIONS[Action.SEND_LINK], _("Send authentication link"),
        _("Send an authentication link for %(payments)s?"), _("No payment here can get a link"),
        _("Each shopper gets an email with a signed link that expires in %(hours)s: it runs "
          "the bank's check again, or takes another card for the same order."),
        _("Yes, send the emails")),
    Action.CANCEL: OpsVerb(
        ops_actions.ACTION_PERMISSIONS[Action.CANCEL], _("Cancel payment"),
        _("Cancel %(payments)s?"),
        _("No payment here can be canceled"),
        _("Each payment is canceled at Stripe and its order marked canceled: the shopper "
          "can no longer pay it. This cannot be undone."),
        _("Yes, cancel")),
    Action.REFRESH: OpsVerb(
        ops_actions.ACTION_PERMISSIONS[Action.REFRESH], _("Refresh from Stripe"),
        _("Refresh %(payments)s from Stripe?"),
        _("No payment here can be refreshed"),
        _("Reads each payment from Stripe and records what changed. Nothing is charged."),
        _("Yes, refresh")),
}


def engine_internals_visible(user) -> bool:
    """Whether this user sees what only ops need (scan cursors and leases, the keyed hash
    of an order's session): those who may act on payments, and superusers. Merchants,
    who watch, do not."""
    return user.is_active and (user.is_superuser or any(
        user.has_perm(f"payments.{verb.permission}") for verb in OPS_VERBS.values()))


def payments_count(n: int) -> str:
    return ngettext("%(count)s payment", "%(count)s payments", n) % {"count": n}


def skipped_summary(skipped: list[tuple[Incident, str]]) -> str:
    """"1 will be skipped: already paid", or "3 will be skipped: 2 already paid, 1 not
    awaiting confirmation"."""
    reasons = Counter(ops_actions.detail_words(reason) for _incident, reason in skipped)
    total = sum(reasons.values())
    if len(reasons) == 1:
        reasons_text = next(iter(reasons))
    else:
        reasons_text = ", ".join(f"{count} {reason}" for reason, count in reasons.items())
    return gettext("%(count)s will be skipped: %(reasons)s") % {"count": total,
                                                                 "reasons": reasons_text}


class OpsActionForm(forms.Form):
    """The confirmation page's form: its one-time token (issued with the page, which the
    site stored with the payments the page shows; a second submit acts once), and for a
    cancellation the reason Stripe records."""

    token = forms.UUIDField(widget=forms.HiddenInput)
    # The help text as a field's: Django points the select's aria-describedby at it (and
    # at its error).
    reason = forms.ChoiceField(
        label=_("Reason"), required=True, help_text=_("Stripe records it with the cancellation."),
        choices=[("", _("Choose a reason")), *ops_actions.CANCEL_REASONS.items()])

    def __init__(self, *args, action: str, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if action != Action.CANCEL:
            del self.fields["reason"]

    def focus_first_error(self) -> None:
        """Shown again with an error, the page opens on the field to correct."""
        for name in self.errors:
            if name in self.fields:
                self.fields[name].widget.attrs["autofocus"] = True
                return


class OpsActionsMixin:
    """Ops actions on incidents, one permission each: bulk (changelist actions) and single
    (buttons on the incident page), both through one confirmation page, as Django's
    delete confirmation: what will happen to how many payments, which are skipped and
    why. The page's one-time token is stored with what it shows (each payment's version);
    its POST hands the token to ``recovery_submit``, then runs the action (one payment)
    or queues it as a Celery job (several) and says what happened, or where to watch."""

    actions = ["confirm_selected", "send_link_selected", "cancel_selected",
               "refresh_selected"]

    def has_ops_permission(self, request: HttpRequest, action: str) -> bool:
        return request.user.has_perm(f"payments.{OPS_VERBS[action].permission}")

    def has_confirm_payment_permission(self, request: HttpRequest) -> bool:
        return self.has_ops_permission(request, Action.CONFIRM)

    def has_send_recovery_link_permission(self, request: HttpRequest) -> bool:
        return self.has_ops_permission(request, Action.SEND_LINK)

    def has_cancel_payment_permission(self, request: HttpRequest) -> bool:
        return self.has_ops_permission(request, Action.CANCEL)

    def has_refresh_payment_permission(self, request: HttpRequest) -> bool:
        return self.has_ops_permission(request, Action.REFRESH)

    @admin.action(description=_("Confirm now"), permissions=["confirm_payment"])
    def confirm_selected(self, request: HttpRequest, queryset):
        return self.ops_selected(request, Action.CONFIRM, queryset)

    @admin.action(description=_("Send authentication link"), permissions=["send_recovery_link"])
    def send_link_selected(self, request: HttpRequest, queryset):
        return self.ops_selected(request, Action.SEND_LINK, queryset)

    @admin.action(description=_("Cancel payment"), permissions=["cancel_payment"])
    def cancel_selected(self, request: HttpRequest, queryset):
        return self.ops_selected(request, Action.CANCEL, queryset)

    @admin.action(description=_("Refresh from Stripe"), permissions=["refresh_payment"])
    def refresh_selected(self, request: HttpRequest, queryset):
        return self.ops_selected(request, Action.REFRESH, queryset)

    def ops_selected(self, request: HttpRequest, action: str, queryset):
        if queryset.count() > OPS_MAX_SELECTED:
            messages.warning(request, gettext(
                "Select at most %(max)s payments for one action (filter the list first).")
                % {"max": OPS_MAX_SELECTED})
            return None
        return self.ops_confirmation(request, action, queryset,
                                     back=request.get_full_path())

    def ops_view(self, request: HttpRequest, action: str):
        """GET ``?ids=1,2&next=…``: the confirmation page; POST: do it."""
        if action not in OPS_VERBS:
            raise Http404
        if not self.has_ops_permission(request, action):
            raise PermissionDenied
        if request.method == "POST":
            return self.ops_execute(request, action)
        ids = [part for value in request.GET.getlist("ids") for part in value.split(",")]
        ids = [int(part) for part in ids if part.isascii() and part.isdigit()
               and len(part) < 12][:OPS_MAX_SELECTED] or self.ops_shown_ids(request, action)
        incidents = self.get_queryset(request).filter(pk__in=ids)
        back = self.ops_back(request, request.GET.get("next", ""))
        if not incidents.exists():
            messages.warning(request, gettext("No such payment: nothing was done."))
            return HttpResponseRedirect(back)
        return self.ops_confirmation(request, action, incidents, back=back)

    def ops_shown_ids(self, request: HttpRequest, action: str) -> list[int]:
        """The payments a confirmation page of this user showed (``?token=``, its form's
        own address): the sign-in after a session ended mid-page comes back to them."""
        try:
            record = ops_actions.recovery_issued(token=uuid.UUID(request.GET.get("token", "")),
                                                 action=action, user=request.user)
        except (ValueError, ops_actions.TokenRefused):
            return []
        return list(record.items.values_list("incident_id", flat=True))

    def ops_back(self, request: HttpRequest, url: str) -> str:
        """Where the result is shown: the page the action came from, if it is ours."""
        return url_of_this_site(request, url) or reverse("admin:payments_incident_changelist")

    def ops_confirmation(self, request: HttpRequest, action: str, incidents, *, back: str,
                         form: OpsActionForm | None = None,
                         record: OpsAction | None = None) -> TemplateResponse:
        """The page; its token is issued (and stored with what the page shows) here, or
        is ``record``'s when a form with an error is shown again."""
        incidents = list(incidents.select_related("order", "attempt")
                         .prefetch_related("recovery_links").order_by("-first_seen_at", "-pk"))
        plan = ops_actions.recovery_plan(action=action, incidents=incidents)
        if record is None:
            record = ops_actions.recovery_issue(action=action, incidents=incidents,
                                                user=request.user)
        verb = OPS_VERBS[action]
        form = form or OpsActionForm(initial={"token": record.pk}, action=action)
        hours = timesince(timezone.now(), timezone.now() + timedelta(
            seconds=settings.PAYMENTS_RECOVERY_LINK_SECONDS), depth=2)
        title = verb.question % {"payments": payments_count(len(plan.eligible))} \
            if plan.eligible else verb.nothing
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": title,
            "subtitle": skipped_summary(plan.skipped) if plan.skipped else "",
            "action": action,
            "verb": verb,
            "does": verb.does % {"hours": hours},
            "in_background": len(incidents) > 1,
            "eligible": [self.ops_row(incident) for incident in plan.eligible],
            "skipped": [{**self.ops_row(incident), "reason": ops_actions.detail_words(reason)}
                        for incident, reason in plan.skipped],
            "form": form,
            "back": back,
            # The page's token in the form's own address too: a session that ended while
            # the page was open sends the sign-in back to these payments (``ops_shown_ids``).
            "action_url": reverse("admin:payments_incident_ops", args=[action]) + "?" +
            urlencode({"token": str(record.pk), "next": back}),
            "media": self.media + form.media,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/payments/incident/ops_confirmation.html",
                                context)

    def ops_row(self, incident: Incident) -> dict:
        return {
            "incident": incident,
            "url": reverse("admin:payments_incident_change", args=[incident.pk]),
            "customer": incident.customer_email or gettext("(no email)"),
            "amount": money_unbroken(incident.amount, incident.currency),
            "kind": incident.get_kind_display(),
            "status": incident.get_status_display(),
            "payment": intent_status_label(incident.attempt.status if incident.attempt
                                           else incident.intent_status),
            "order": incident.order.reference if incident.order else gettext("outside checkout"),
        }

    def ops_execute(self, request: HttpRequest, action: str):
        """Take the page's token once; one payment is acted on here and now, several in a
        Celery job whose progress page this answers with at once."""
        back = self.ops_back(request, request.POST.get("next", ""))
        form = OpsActionForm(request.POST, action=action)
        if not form.is_valid() and "token" in form.errors:
            messages.warning(request, gettext("This form was not sent as the site made it: "
                                              "nothing was done."))
            return HttpResponseRedirect(back)
        token = form.cleaned_data["token"]
        try:
            if not form.is_valid():
                return self.ops_page_again(request, action, token, back, form)
            try:
                record = ops_actions.recovery_submit(
                    token=token, action=action, user=request.user,
                    reason=form.cleaned_data.get("reason", ""))
            except ValueError as error:
                form.add_error("reason" if "reason" in form.fields else None, str(error))
                return self.ops_page_again(request, action, token, back, form)
        except ops_actions.TokenRefused as error:
            messages.warning(request, gettext("%(error)s Nothing was done; open the action "
                                              "again.") % {"error": gettext(str(error))})
            return HttpResponseRedirect(back)
        except ops_actions.AlreadySubmitted as error:
            previous = error.previous
            if previous.status in (OpsAction.Status.QUEUED, OpsAction.Status.RUNNING):
                messages.warning(request, gettext("This form was already submitted; it is "
                                                  "still at work."))
                return HttpResponseRedirect(self.ops_progress_url(previous, back))
            summary = ops_actions.recovery_summaries(records=[previous]).get(previous.pk, "")
            messages.warning(request, gettext("This form was already submitted: "
                                              "%(summary)s.") % {"summary": summary})
            return HttpResponseRedirect(back)
        if record.requested > 1:
            transaction.on_commit(lambda: self.ops_action_queue(request, record))
            messages.info(request, gettext(
                "%(action)s: %(payments)s at work. This page shows each payment's result as "
                "it comes.") % {"action": capfirst(record.get_kind_display()),
                                "payments": payments_count(record.requested)})
            return HttpResponseRedirect(self.ops_progress_url(record, back))
        outcome = ops_actions.recovery_run(action_id=record.pk)
        level = messages.SUCCESS if outcome.done and not outcome.skipped \
            else messages.WARNING
        messages.add_message(request, level, f"{capfirst(outcome.words())}.")
        return HttpResponseRedirect(back)

    def ops_action_queue(self, request: HttpRequest, record: OpsAction) -> None:
        """Hand the action to a worker; a broker that is down gets a message, not a 500
        (the publish fails fast: settings.CELERY_BROKER_TRANSPORT_OPTIONS)."""
        try:
            counters.redis_guard(lambda: ops_action_run_task.apply_async((str(record.pk),),
                                                                         retry=False))
        except Exception:
            outages.redis_unavailable(component="celery_publish",
                                      doing=f"ops action {record.pk} not queued; the resume "
                                            "runs it")
            messages.warning(request, gettext(
                "The task queue did not answer: this action is saved and starts within a few "
                "minutes, once a worker is back."))

    def ops_page_again(self, request: HttpRequest, action: str, token, back: str,
                       form: OpsActionForm) -> TemplateResponse:
        """The same page (same token, same payments) with the form's errors."""
        form.focus_first_error()
        record = ops_actions.recovery_issued(token=token, action=action, user=request.user)
        incidents = self.get_queryset(request).filter(ops_items__ops_action=record)
        return self.ops_confirmation(request, action, incidents, back=back, form=form,
                                     record=record)

    def ops_progress_url(self, record: OpsAction, back: str) -> str:
        return reverse("admin:payments_opsaction_change", args=[record.pk]) + "?" + \
            urlencode({"next": back})

    def ops_buttons(self, request: HttpRequest, incident: Incident) -> list[dict]:
        """The actions this user may take on this incident: a link to the confirmation
        page for each that applies, the reason for each that does not."""
        buttons = []
        here = request.get_full_path()
        for action, verb in OPS_VERBS.items():
            if not self.has_ops_permission(request, action):
                continue
            plan = ops_actions.recovery_plan(action=action, incidents=[incident])
            button = {"label": verb.button, "action": action}
            if plan.eligible:
                button["url"] = reverse("admin:payments_incident_ops", args=[action]) + \
                    "?" + urlencode({"ids": incident.pk, "next": here})
            else:
                button["reason"] = ops_actions.detail_words(plan.skipped[0][1])
            buttons.append(button)
        return buttons


# --- the record of ops actions, on the pages of what they touched ----------------------

def ops_history_rows(*, incidents=None, order=None) -> list[dict]:
    """What ops did to these payments: when, who, which action (with its reason), and
    what came of it, each linking to the action's page."""
    rows = []
    for item in ops_actions.recovery_history(incidents=incidents, order=order)[:50]:
        record = item.ops_action
        action = record.get_kind_display()
        if record.reason:
            action += f" ({ops_actions.CANCEL_REASONS.get(record.reason, record.reason)})"
        rows.append({
            "at": timestamp(item.finished_at or record.submitted_at),
            "user": record.user.get_username(),
            "action": action,
            "result": ops_actions.detail_words(item.detail) or item.get_result_display().lower(),
            "url": reverse("admin:payments_opsaction_change", args=[record.pk]),
        })
    return rows


def ops_ending(*, incident: Incident | None = None, order=None) -> str:
    """"Canceled by olga on 29 Nov 2026 15:04 UTC: Fraudulent", when an ops action ended
    this payment (or this order's); "—" otherwise."""
    incidents = [incident] if incident is not None else None
    item = ops_actions.recovery_history(incidents=incidents, order=order).filter(
        result=OpsActionItem.Result.DONE,
        ops_action__kind__in=[Action.CANCEL, Action.CONFIRM]).first()
    if item is None:
        return EMPTY
    record = item.ops_action
    text = gettext("%(what)s by %(user)s on %(time)s") % {
        "what": capfirst(ops_actions.detail_words(item.detail)), "user": record.user.get_username(),
        "time": timestamp(item.finished_at)}
    if record.kind == Action.CANCEL:
        text += f": {ops_actions.CANCEL_REASONS.get(record.reason, record.reason)}"
    url = reverse("admin:payments_opsaction_change", args=[record.pk])
    return format_html('{} <a href="{}">{}</a>', text, url, gettext("(ops action)"))

/*
 * The checkout page's card payment, after Stripe's "Migrate your basic card
 * integration" guide: createPaymentMethod, POST /pay {payment_method_id}; on
 * {requiresAction, clientSecret} run handleCardAction (the bank's modal) and POST
 * /pay {payment_intent_id}; loop until {success} or {error}.
 *
 * Every request names the order this page shows, so the server charges that order's
 * amount, whatever other tabs of the same session have opened since.
 *
 * The button stays inert while a payment is in flight, so one click pays once, and the
 * status line says the payment is under way; a network failure frees it with a message,
 * and retrying is safe because the server makes every Stripe call idempotent.
 */
(function () {
  "use strict";

  var form = document.getElementById("payment-form");
  if (!form) return;
  var errors = document.getElementById("card-errors");
  // The page's words, in the shopper's language (templates/payments/_checkout_messages.html).
  var words = JSON.parse(document.getElementById("checkout-messages").textContent);
  if (!window.Stripe) {  // Stripe.js did not load (blocked, offline): Pay stays disabled
    errors.textContent = words.stripeMissing;
    return;
  }
  var button = document.getElementById("pay-button");
  var status = document.getElementById("order-status");
  var idleStatus = { text: status.textContent, className: status.className };
  var csrfToken = form.querySelector("input[name=csrfmiddlewaretoken]").value;
  // Stripe.js writes its own texts (the card field, its errors, the bank's modal) in the
  // page's language too.
  var stripe = Stripe(form.dataset.publishableKey, { locale: form.dataset.locale || "auto" });
  var card = stripe.elements().create("card");
  card.mount("#card-element");
  var cardEmpty = true;  // nothing typed in the card's field (Stripe.js's "empty")
  var cardChanged = false;  // the card's field changed since a payment was left pending
  card.on("change", function (event) {
    cardEmpty = !!event.empty;
    cardChanged = true;
    showError(event.error ? event.error.message : "");
  });

  var busy = false;
  var askedAfterMove = false;  // this click asked the server after a movedOn error
  // An intent whose bank step had no answer (the connection dropped): the bank may have
  // approved it, so the next click asks the server to confirm it, not the card again.
  var unanswered = null;
  // A payment of this order left at the bank before the page was loaded (its second /pay
  // lost, a reload at the modal): with no card typed, Pay finishes that payment; a card
  // typed pays with it (the server confirms the same intent with the new card).
  var atTheBank = form.dataset.atTheBank || null;
  button.disabled = false;  // rendered disabled: before this script, a click did nothing

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    if (busy) return;
    setBusy(true);
    askedAfterMove = false;
    showError("");
    // A payment left pending (its answer lost, or left at the bank before a reload) is
    // finished first, unless the shopper typed a card since: then that card pays (the
    // server confirms the same intent with it, so nothing is charged twice). Finishing
    // it regardless charged the card the bank had seen, not the one just typed.
    var pending = unanswered || atTheBank;
    if (pending && (!cardChanged || cardEmpty)) {
      atTheBank = null;  // asked once: its answer says what comes next
      confirmOnServer(pending).catch(afterBankUnreachable(pending));
      return;
    }
    stripe.createPaymentMethod({ type: "card", card: card })
      .then(function (result) {
        if (result.error) {
          fail(cardFieldMessage(result.error));
          // Back to the card's field, where the shopper mends what its message names.
          if (result.error.type === "validation_error") card.focus();
          return;  // the payment left pending stays: a cleared field finishes it
        }
        unanswered = atTheBank = null;  // this card pays (the same intent, server-side)
        return post({ payment_method_id: result.paymentMethod.id })
          .then(handleServerResponse);
      })
      .catch(networkFailure);
  });

  function handleServerResponse(response) {
    if (response.error) {
      // A card refused (402) or not usable (400): the line above the form says what to do.
      // Anything else (the session, a limit, Stripe unreachable) changed nothing about the
      // payment, and its message says what to do.
      if (response.httpStatus === 402 || response.httpStatus === 400) {
        notPaid(response.error, words.notPaid);
      } else {
        fail(response.error);
      }
    } else if (response.requiresAction) {
      var intentId = response.clientSecret.split("_secret_")[0];
      return cardAction(response.clientSecret).then(function (result) {
        if (result.error && (!movedOn(result.error) || askedAfterMove)) {
          if (result.error.type === "api_connection_error") {
            return afterBankUnreachable(intentId)();  // lost again: still not "not paid"
          }
          return notPaid(cardActionMessage(result.error), words.notPaidAuthentication);
        }
        askedAfterMove = askedAfterMove || !!result.error;  // once a click: never a loop
        // The bank is satisfied, the payment moved on without this page, or the answer
        // was lost: the server confirms the intent again, or says it is paid.
        return confirmOnServer(intentId).catch(afterBankUnreachable(intentId));
      }, function (refusal) {
        // Stripe.js threw (an IntegrationError): the intent no longer waits at the bank,
        // moved on since the server's answer (another tab or the recovery link paid or
        // authenticated it). Not a failure, and not our store unreachable: the server
        // knows. Asked once a click, as a movedOn error is.
        if (askedAfterMove) {
          return notPaid(cardActionMessage(refusal), words.notPaidAuthentication);
        }
        askedAfterMove = true;
        return confirmOnServer(intentId).catch(afterBankUnreachable(intentId));
      });
    } else if (response.success) {
      window.location.assign(response.orderUrl || window.location.href);
    } else {
      fail(words.unexpected);
    }
  }

  // stripe.handleCardAction, whose refusal ("It will throw an error if the PaymentIntent
  // has a different status") is a rejected promise, also if it throws before it starts.
  function cardAction(clientSecret) {
    return Promise.resolve().then(function () {
      return stripe.handleCardAction(clientSecret);
    });
  }

  function confirmOnServer(intentId) {
    return post({ payment_intent_id: intentId }).then(function (response) {
      // An answer that the same request may succeed later (a 5xx, or Retry-After: a 429,
      // "in progress") leaves the next click asking about the same intent (no second trip
      // to the bank); any other answer settles it, so a 409 "this payment was canceled"
      // lets the card typed next pay (it re-sent the canceled intent at every click).
      var later = response.httpStatus >= 500 || !!response.retryAfter;
      unanswered = !response.success && !response.requiresAction && later ? intentId : null;
      if (unanswered) cardChanged = false;
      return handleServerResponse(response);
    });
  }

  // The store could not be reached after the bank's step: whether the bank approved is
  // not known here, so the page says so and does not call it "not paid".
  function afterBankUnreachable(intentId) {
    return function () {
      unanswered = intentId;
      cardChanged = false;
      fail(words.unreachableAfterBank);
    };
  }

  // The payment no longer waits at the bank (another tab of this order, or its recovery
  // link, paid or authenticated it while this page's modal was open), or Stripe.js lost
  // the bank's answer (api_connection_error: it may have approved): not a failure, the
  // server knows. (An intent already moved on when handleCardAction starts is not an
  // {error}: Stripe.js rejects, handled beside this.)
  function movedOn(error) {
    var intent = error.payment_intent;
    if (intent) {
      return ["succeeded", "processing", "requires_confirmation"].indexOf(intent.status) >= 0;
    }
    return error.code === "payment_intent_unexpected_state" ||
      error.type === "api_connection_error";
  }

  // Stripe.js's messages are written for developers ("handleCardAction: The
  // PaymentIntent supplied…"): the shopper gets plain words, the console the rest.
  function cardActionMessage(error) {
    if (error.code === "payment_intent_authentication_failure") {
      return words.authenticationFailed;
    }
    logForDevelopers(error);
    return words.authenticationIncomplete;
  }

  // The card field's own checks (validation_error) and card errors speak to shoppers; a
  // lost connection is not an unreadable card.
  function cardFieldMessage(error) {
    if (error.type === "validation_error" || error.type === "card_error") return error.message;
    if (error.type === "api_connection_error") return words.unreachable;
    // Stripe itself failing or busy: "your card could not be read" sent shoppers to
    // retype a good card during Stripe's outage.
    if (error.type === "api_error" || error.type === "rate_limit_error") {
      logForDevelopers(error);
      return words.providerBusy;
    }
    logForDevelopers(error);
    return words.cardUnreadable;
  }

  function logForDevelopers(error) {
    if (window.console) {
      console.warn("Stripe.js:", error.code || error.type || error.name, error.message);
    }
  }

  // The payment did not go through: the line above the form says so, and why.
  function notPaid(message, line) {
    status.textContent = line;
    status.className = "order-status status-failed";
    fail(message);
  }

  function post(body) {
    return fetch(form.dataset.payUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken },
      body: JSON.stringify(Object.assign({ order_reference: form.dataset.orderReference }, body))
    }).then(function (response) {
      return response.json().catch(function () {
        return { error: words.unexpectedStatus.replace("%(status)s", response.status) };
      }).then(function (answer) {
        answer.httpStatus = response.status;
        answer.retryAfter = response.headers.get("Retry-After");
        return answer;
      });
    });
  }

  // /pay's answer never came: the request may have reached the store and paid (its
  // answer lost on the way back), so the page says it may have; the next Pay finds out.
  function networkFailure() {
    fail(words.payUnanswered);
  }

  function fail(message) {
    showError(message);
    setBusy(false);
  }

  function showError(message) {
    errors.textContent = message || "";
  }

  // aria-disabled, not disabled: a disabled button drops the keyboard's focus to the top of
  // the page; this one keeps it, and the busy guard ignores its clicks. The status line (a
  // polite live region) says the payment is under way, and what it said before once not.
  function setBusy(value) {
    busy = value;
    button.setAttribute("aria-disabled", value ? "true" : "false");
    button.setAttribute("aria-busy", value ? "true" : "false");
    if (value) {
      status.textContent = words.processing;
      status.className = idleStatus.className;
    } else if (status.textContent === words.processing) {
      status.textContent = idleStatus.text;
    }
    // The bank's modal took the focus: give it back to the Pay button, not the page's top.
    if (!value && (!document.activeElement || document.activeElement === document.body)) {
      button.focus();
    }
  }
})();

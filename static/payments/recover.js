/*
 * The recovery page of a link the shop mailed. Opening the link (a GET, perhaps a mail
 * scanner's) showed this page and used nothing; the shopper's click uses it: this script
 * POSTs back to the link's own address with the page's CSRF token and gets the order
 * page's address and, while the payment still waits for the bank's challenge, the client
 * secret. Nothing is used on load: mail scanners that run a page's scripts open it too,
 * and do not click.
 *
 * Waiting at the bank: "Confirm with my bank" runs stripe.handleCardAction on the order's
 * own intent, then the same second confirm as the checkout (POST /pay {payment_intent_id,
 * order_reference}), looping while the bank asks again. Otherwise (or "Pay with a card")
 * the browser goes on to the order's card form.
 */
(function () {
  "use strict";

  var form = document.getElementById("recover-form");
  if (!form) return;
  var errors = document.getElementById("card-errors");
  var status = document.getElementById("recover-status");
  var csrfToken = form.querySelector("input[name=csrfmiddlewaretoken]").value;
  // The page's words, in the shopper's language (templates/payments/_checkout_messages.html).
  var words = JSON.parse(document.getElementById("checkout-messages").textContent);
  var waiting = form.dataset.waitingAtBank === "true";
  var stripe = waiting && window.Stripe
    ? Stripe(form.dataset.publishableKey, { locale: form.dataset.locale || "auto" }) : null;
  var use = null;  // the promise of the link's use: {clientSecret, orderUrl} or {error}

  function useLink() {
    if (!use) {
      use = fetch(window.location.pathname, {
        method: "POST", credentials: "same-origin",
        headers: { "Accept": "application/json", "X-CSRFToken": csrfToken }
      }).then(function (response) {
        return response.json().catch(function () {
          return { error: words.unexpectedStatus.replace("%(status)s", response.status) };
        });
      }, function () {
        return { error: words.unreachable };
      }).then(function (answer) {
        if (answer.error) use = null;  // the next click asks again (after a wait, say)
        return answer;
      });
    }
    return use;
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    if (form.getAttribute("aria-busy") === "true") return;
    var wantsCard = !event.submitter || event.submitter.value === "card";
    setBusy(true);
    errors.textContent = "";
    useLink().then(function (answer) {
      if (answer.error) return fail(answer.error);
      if (wantsCard || !answer.clientSecret || !stripe) {
        return window.location.assign(answer.orderUrl);
      }
      return authenticate(answer.clientSecret, answer.orderUrl);
    }).catch(function () {
      fail(words.unreachable);
    });
  });

  function authenticate(clientSecret, orderUrl, askedAfterMove) {
    return cardAction(clientSecret).then(function (result) {
      if (result.error && (!movedOn(result.error) || askedAfterMove)) {
        fail(cardActionMessage(result.error));  // asked once a click: never a loop
        return bankDone();
      }
      // The bank is satisfied, or the payment moved on without this page (another browser
      // opened the link too): the server confirms it again, or says it is paid.
      return confirmOnServer(clientSecret, orderUrl, askedAfterMove || !!result.error);
    }, function (refusal) {
      // Stripe.js threw (an IntegrationError): the payment no longer waits at the bank
      // (paid or authenticated in another browser, or by this page's earlier click whose
      // answer was lost). Not the store unreachable: the server knows, asked once a click.
      if (askedAfterMove) {
        fail(cardActionMessage(refusal));
        return bankDone();
      }
      return confirmOnServer(clientSecret, orderUrl, true);
    });
  }

  // stripe.handleCardAction, whose refusal is a rejected promise (Stripe.js: "It will
  // throw an error if the PaymentIntent has a different status"), also if it throws
  // before it starts.
  function cardAction(clientSecret) {
    return Promise.resolve().then(function () {
      return stripe.handleCardAction(clientSecret);
    });
  }

  function confirmOnServer(clientSecret, orderUrl, askedAfterMove) {
    var intentId = clientSecret.split("_secret_")[0];
    return post({ payment_intent_id: intentId }).catch(function () {
      // The store unreachable after the bank's step: the bank may have approved.
      return { error: words.unreachableAfterBank };
    }).then(function (response) {
      if (response.success) {
        window.location.assign(response.orderUrl || orderUrl);
      } else if (response.requiresAction) {
        return authenticate(response.clientSecret, orderUrl, askedAfterMove);
      } else {
        fail(response.error || words.unexpected);
      }
    });
  }

  // As the checkout's (checkout.js): the payment no longer waits at the bank, or the
  // bank's answer was lost (it may have approved): the server knows.
  function movedOn(error) {
    var intent = error.payment_intent;
    if (intent) {
      return ["succeeded", "processing", "requires_confirmation"].indexOf(intent.status) >= 0;
    }
    return error.code === "payment_intent_unexpected_state" ||
      error.type === "api_connection_error";
  }

  // Stripe.js's messages are written for developers: the shopper gets plain words, the
  // console the rest.
  function cardActionMessage(error) {
    if (error.code === "payment_intent_authentication_failure") {
      return words.recoverAuthenticationFailed;
    }
    if (window.console) console.warn("Stripe.js:", error.code || error.name, error.message);
    return words.recoverAuthenticationNotStarted;
  }

  // The bank's check failed or was closed: Stripe no longer waits for it, so its button
  // can only fail again. The card is the way on: its button becomes the page's main one.
  function bankDone() {
    var bank = document.getElementById("authenticate-button");
    var card = form.querySelector("button[value=card]");
    if (!bank || !card || bank.hidden) return;
    bank.hidden = true;
    card.classList.remove("link-button");
    card.parentNode.replaceWith(card);  // out of its "Rather use another card?" line
    card.focus();
  }

  function post(body) {
    body.order_reference = form.dataset.orderReference;
    return fetch(form.dataset.payUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken },
      body: JSON.stringify(body)
    }).then(function (response) {
      return response.json().catch(function () {
        return { error: words.unexpectedStatus.replace("%(status)s", response.status) };
      });
    });
  }

  function fail(message) {
    errors.textContent = message;
    setBusy(false);
  }

  // As the checkout's: the buttons aria-disabled (they keep the keyboard's focus; the
  // aria-busy guard above ignores their clicks), and a polite status line says so.
  function setBusy(value) {
    form.setAttribute("aria-busy", value ? "true" : "false");
    Array.prototype.forEach.call(form.querySelectorAll("button"), function (button) {
      button.setAttribute("aria-disabled", value ? "true" : "false");
    });
    status.textContent = value ? words.processing : "";
    // The bank's modal took the focus: give it back to the form's first button rather
    // than the top of the page.
    if (!value && (!document.activeElement || document.activeElement === document.body)) {
      form.querySelector("button:not([hidden])").focus();
    }
  }
})();

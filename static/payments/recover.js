/*
 * The recovery page of a link the shop mailed: the bank's challenge again for a payment
 * still waiting for it (stripe.handleCardAction on the order's own intent), then the
 * same second confirm as the checkout (POST /pay {payment_intent_id, order_reference}),
 * looping while the bank asks again. A failed challenge leaves the shopper the order's
 * card form, one link away.
 */
(function () {
  "use strict";

  var form = document.getElementById("recover-form");
  if (!form) return;
  var button = document.getElementById("authenticate-button");
  var errors = document.getElementById("card-errors");
  var csrfToken = form.querySelector("input[name=csrfmiddlewaretoken]").value;
  var stripe = Stripe(form.dataset.publishableKey);

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    if (button.disabled) return;
    setBusy(true);
    errors.textContent = "";
    authenticate(form.dataset.clientSecret).catch(function () {
      fail("We could not reach the store. Check your connection and try again.");
    });
  });

  function authenticate(clientSecret) {
    return stripe.handleCardAction(clientSecret).then(function (result) {
      if (result.error) {
        return fail(result.error.code === "payment_intent_authentication_failure"
          ? "Your bank could not confirm this payment. You can pay with another card instead."
          : result.error.message);
      }
      return post({ payment_intent_id: result.paymentIntent.id }).then(handle);
    });
  }

  function handle(response) {
    if (response.success) {
      window.location.assign(response.orderUrl || form.dataset.orderUrl);
    } else if (response.requiresAction) {
      return authenticate(response.clientSecret);
    } else {
      fail(response.error || "Unexpected answer from the store. Please try again.");
    }
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
        return { error: "The store answered unexpectedly (HTTP " + response.status + ")." };
      });
    });
  }

  function fail(message) {
    errors.textContent = message;
    setBusy(false);
  }

  function setBusy(value) {
    button.disabled = value;
    button.setAttribute("aria-busy", value ? "true" : "false");
  }
})();

/*
 * Stripe.js shim served by the Stripe sandbox at /v3/ (the path of
 * https://js.stripe.com/v3/), so a page switches between real Stripe and the
 * sandbox by the script's origin alone.
 *
 * Implements what a card checkout uses: Stripe(pk), stripe.elements(),
 * elements.create('card') with real inputs, createPaymentMethod,
 * handleCardAction (with a bank-challenge modal like Stripe's test page),
 * confirmCardPayment and retrievePaymentIntent. Every method resolves
 * {paymentMethod} / {paymentIntent} or {error}, as Stripe.js does, save where Stripe.js
 * throws: handleCardAction on an intent it is not for rejects with an IntegrationError.
 */
(function () {
  "use strict";

  var script = document.currentScript;
  var API = script ? new URL(script.src).origin : window.location.origin;

  // The shim's own words in the languages the shop speaks, chosen as Stripe.js chooses
  // them: Stripe(pk, {locale}) ("auto" or none: the browser's language), else English.
  var TEXTS = {
    en: {
      incomplete_number: "Your card number is incomplete.",
      invalid_number: "Your card number is invalid.",
      incomplete_expiry: "Your card's expiration date is incomplete.",
      invalid_expiry_month: "Your card's expiration date is invalid.",
      invalid_expiry_year_past: "Your card's expiration year is in the past.",
      invalid_expiry_month_past: "Your card's expiration date is in the past.",
      incomplete_cvc: "Your card's security code is incomplete.",
      connection: "We could not reach Stripe. Check your connection and try again.",
      number: "Card number", expiry: "Expiration date (MM / YY)", expiryHint: "MM / YY",
      cvc: "CVC", title: "3D Secure 2 Test Page",
      body: "This is a test page from the Stripe sandbox. Your bank would ask you to " +
            "authenticate this payment of {amount} here.",
      complete: "Complete authentication", fail: "Fail authentication", close: "Close"
    },
    de: {
      incomplete_number: "Ihre Kartennummer ist unvollständig.",
      invalid_number: "Ihre Kartennummer ist ungültig.",
      incomplete_expiry: "Das Ablaufdatum Ihrer Karte ist unvollständig.",
      invalid_expiry_month: "Das Ablaufdatum Ihrer Karte ist ungültig.",
      invalid_expiry_year_past: "Das Ablaufjahr Ihrer Karte liegt in der Vergangenheit.",
      invalid_expiry_month_past: "Das Ablaufdatum Ihrer Karte liegt in der Vergangenheit.",
      incomplete_cvc: "Die Prüfnummer Ihrer Karte ist unvollständig.",
      connection: "Stripe ist nicht erreichbar. Prüfen Sie Ihre Verbindung und versuchen " +
                  "Sie es erneut.",
      number: "Kartennummer", expiry: "Ablaufdatum (MM / JJ)", expiryHint: "MM / JJ",
      cvc: "Prüfnummer", title: "3D Secure 2 – Testseite",
      body: "Dies ist eine Testseite der Stripe-Sandbox. Hier würde Ihre Bank Sie bitten, " +
            "diese Zahlung über {amount} zu bestätigen.",
      complete: "Bestätigung abschließen", fail: "Bestätigung fehlschlagen lassen",
      close: "Schließen"
    },
    fr: {
      incomplete_number: "Le numéro de votre carte est incomplet.",
      invalid_number: "Le numéro de votre carte est invalide.",
      incomplete_expiry: "La date d'expiration de votre carte est incomplète.",
      invalid_expiry_month: "La date d'expiration de votre carte n'est pas valide.",
      invalid_expiry_year_past: "L'année d'expiration de votre carte est dépassée.",
      invalid_expiry_month_past: "La date d'expiration de votre carte est dépassée.",
      incomplete_cvc: "Le cryptogramme de votre carte est incomplet.",
      connection: "Impossible de joindre Stripe. Vérifiez votre connexion et réessayez.",
      number: "Numéro de carte", expiry: "Date d'expiration (MM / AA)", expiryHint: "MM / AA",
      cvc: "Cryptogramme", title: "3D Secure 2 – Page de test",
      body: "Ceci est une page de test du bac à sable Stripe. Votre banque vous demanderait " +
            "ici d'authentifier ce paiement de {amount}.",
      complete: "Réussir l'authentification", fail: "Faire échouer l'authentification",
      close: "Fermer"
    }
  };

  function languageOf(locale) {
    var wanted = !locale || locale === "auto" ? (navigator.language || "en") : locale;
    var language = String(wanted).toLowerCase().split("-")[0];
    return TEXTS[language] ? language : "en";
  }

  function digits(value) { return (value || "").replace(/\D/g, ""); }

  function luhn(number) {
    var sum = 0;
    for (var i = 0; i < number.length; i++) {
      var d = +number[number.length - 1 - i];
      if (i % 2) { d *= 2; if (d > 9) d -= 9; }
      sum += d;
    }
    return sum % 10 === 0;
  }

  function brandOf(number) {
    if (/^3[47]/.test(number)) return "amex";
    if (/^(5[1-5]|2[2-7])/.test(number)) return "mastercard";
    if (/^(6011|65)/.test(number)) return "discover";
    if (/^(30[0-5]|3[689])/.test(number)) return "diners";
    if (/^35/.test(number)) return "jcb";
    if (/^62/.test(number)) return "unionpay";
    if (/^4/.test(number)) return "visa";
    return "unknown";
  }

  function encode(params, prefix, out) {
    out = out || [];
    Object.keys(params).forEach(function (key) {
      var value = params[key];
      var name = prefix ? prefix + "[" + key + "]" : key;
      if (value === undefined || value === null) return;
      if (typeof value === "object") encode(value, name, out);
      else out.push(encodeURIComponent(name) + "=" + encodeURIComponent(value));
    });
    return out.join("&");
  }

  function connectionError(texts) {
    return { error: { type: "api_connection_error", message: (texts || TEXTS.en).connection } };
  }

  // ---- the card Element ----------------------------------------------------

  function CardElement(options, language) {
    this.options = options || {};
    this.language = language || "en";
    this.handlers = {};
    this.node = null;
  }

  function escapeAttribute(text) {
    return String(text).replace(/&/g, "&amp;").replace(/"/g, "&quot;").replace(/</g, "&lt;");
  }

  CardElement.prototype.mount = function (target) {
    var host = typeof target === "string" ? document.querySelector(target) : target;
    if (!host) throw new Error("Stripe shim: mount target not found: " + target);
    var wrap = document.createElement("div");
    wrap.className = "StripeElement sandbox-card";
    var t = TEXTS[this.language];
    wrap.innerHTML =
      '<input name="cardnumber" aria-label="' + escapeAttribute(t.number) + '" placeholder="' +
      escapeAttribute(t.number) + '" autocomplete="cc-number" inputmode="numeric" ' +
      'class="sandbox-card-number">' +
      '<input name="exp-date" aria-label="' + escapeAttribute(t.expiry) + '" placeholder="' +
      escapeAttribute(t.expiryHint) + '" autocomplete="cc-exp" inputmode="numeric" ' +
      'class="sandbox-card-expiry">' +
      '<input name="cvc" aria-label="' + escapeAttribute(t.cvc) + '" placeholder="' +
      escapeAttribute(t.cvc) + '" autocomplete="cc-csc" inputmode="numeric" ' +
      'class="sandbox-card-cvc">';
    host.appendChild(wrap);
    this.node = wrap;
    this.inputs = {
      number: wrap.querySelector(".sandbox-card-number"),
      expiry: wrap.querySelector(".sandbox-card-expiry"),
      cvc: wrap.querySelector(".sandbox-card-cvc")
    };
    var self = this;
    Object.keys(this.inputs).forEach(function (key) {
      self.inputs[key].addEventListener("input", function () { self._changed(); });
      self.inputs[key].addEventListener("blur", function () { self._changed(true); });
    });
    this._emit("ready", { elementType: "card" });
  };

  CardElement.prototype.on = function (name, handler) {
    (this.handlers[name] = this.handlers[name] || []).push(handler);
    return this;
  };

  CardElement.prototype._emit = function (name, event) {
    (this.handlers[name] || []).forEach(function (handler) { handler(event); });
  };

  CardElement.prototype.state = function (strict) {
    var number = digits(this.inputs.number.value);
    var expiry = digits(this.inputs.expiry.value);
    var cvc = digits(this.inputs.cvc.value);
    var brand = brandOf(number);
    // Diners Club's numbers have 14 digits (or 16), American Express's 15.
    var numberLength = brand === "amex" ? 15 : brand === "diners" && number.length <= 14 &&
      luhn(number) ? 14 : 16;
    var error = null;
    var now = new Date();
    var month = +expiry.slice(0, 2);
    // MM / YY, or MM / YYYY as some shoppers type it ("01/2030" read as 2020 before).
    var longYear = expiry.length === 6 && /^20/.test(expiry.slice(2));
    var year = longYear ? +expiry.slice(2) : 2000 + +expiry.slice(2, 4);
    var expiryDone = expiry.length === 4 || longYear;
    var cvcLength = brand === "amex" ? 4 : 3;
    if (number.length >= numberLength && !luhn(number)) {
      error = "invalid_number";
    } else if (expiryDone && (month < 1 || month > 12)) {
      error = "invalid_expiry_month";
    } else if (expiryDone && year < now.getFullYear()) {
      error = "invalid_expiry_year_past";
    } else if (expiryDone && year === now.getFullYear() && month < now.getMonth() + 1) {
      error = "invalid_expiry_month_past";  // this year, an earlier month: the date
    } else if (strict && number.length < numberLength) {
      error = "incomplete_number";
    } else if (strict && !expiryDone) {
      error = "incomplete_expiry";
    } else if (strict && cvc.length < cvcLength) {
      error = "incomplete_cvc";
    }
    var complete = !error && number.length >= numberLength && expiryDone &&
      cvc.length >= cvcLength;
    return { number: number, expMonth: month, expYear: year, cvc: cvc, brand: brand,
             error: error, complete: complete,
             empty: !number && !expiry && !cvc };
  };

  CardElement.prototype._changed = function (strict) {
    // As Stripe's field: no more CVC digits than the brand's (3, American Express 4); a
    // fourth digit on a Visa was refused only by the server, at Pay.
    var cvcInput = this.inputs.cvc;
    var cvcLength = brandOf(digits(this.inputs.number.value)) === "amex" ? 4 : 3;
    cvcInput.maxLength = cvcLength;
    if (digits(cvcInput.value).length > cvcLength) {
      cvcInput.value = digits(cvcInput.value).slice(0, cvcLength);
    }
    var s = this.state(false);
    if (strict && !s.complete && !s.error && !s.empty) s = this.state(true);
    this._markInvalid(s.error);
    this._emit("change", {
      elementType: "card", empty: s.empty, complete: s.complete, brand: s.brand,
      error: s.error ? { type: "validation_error", code: s.error,
                         message: TEXTS[this.language][s.error] }
                     : undefined
    });
  };

  // Which input the error is about, for assistive technology (aria-invalid).
  CardElement.prototype._markInvalid = function (error) {
    var field = !error ? null : /cvc/.test(error) ? "cvc" : /expiry/.test(error) ? "expiry"
                                                                                  : "number";
    var inputs = this.inputs;
    Object.keys(inputs).forEach(function (key) {
      if (key === field) inputs[key].setAttribute("aria-invalid", "true");
      else inputs[key].removeAttribute("aria-invalid");
    });
  };

  CardElement.prototype.clear = function () {
    var self = this;
    Object.keys(this.inputs || {}).forEach(function (k) { self.inputs[k].value = ""; });
  };
  CardElement.prototype.focus = function () { this.inputs && this.inputs.number.focus(); };
  CardElement.prototype.update = function (options) { this.options = options || {}; };
  CardElement.prototype.unmount = function () {
    if (this.node && this.node.parentNode) this.node.parentNode.removeChild(this.node);
  };
  CardElement.prototype.destroy = CardElement.prototype.unmount;

  // ---- the bank-challenge modal --------------------------------------------

  // A stylesheet from the shim's origin, not an inline <style>: pages with a strict
  // Content-Security-Policy (style-src without 'unsafe-inline') still render it.
  function injectStyle() {
    if (document.getElementById("sandbox-stripe-style")) return;
    var link = document.createElement("link");
    link.id = "sandbox-stripe-style";
    link.rel = "stylesheet";
    link.href = API + "/v3/stripe.css";
    document.head.appendChild(link);
  }

  // Stripe's amounts in the currency's minor unit: none, three digits (5120 is 5.120 KWD)
  // or two; written with those digits in every language (Intl would round ISK's).
  function amountIn(intent, language) {
    var zeroDecimal = ["bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf",
                       "ugx", "vnd", "vuv", "xaf", "xof", "xpf"];
    var threeDecimal = ["bhd", "jod", "kwd", "omr", "tnd"];
    var digits = zeroDecimal.indexOf(intent.currency) >= 0 ? 0
      : threeDecimal.indexOf(intent.currency) >= 0 ? 3 : 2;
    var major = intent.amount / Math.pow(10, digits);
    var plain = major.toFixed(digits) + " " + intent.currency.toUpperCase();
    if (language === "en") return plain;
    try {
      return new Intl.NumberFormat(language, { style: "currency",
        currency: intent.currency.toUpperCase(), minimumFractionDigits: digits,
        maximumFractionDigits: digits }).format(major);
    } catch (e) {
      return plain;
    }
  }

  // The bank's modal as a dialog should be (WAI-ARIA's modal dialog pattern): named and
  // described, focus on its first answer, Tab and Shift+Tab kept inside it, Escape or its
  // close button (a phone has no Escape key) closes it, which fails the challenge as
  // closing Stripe's does, and focus goes back where it was.
  function challenge(intent, language) {
    var t = TEXTS[language];
    return new Promise(function (resolve) {
      var before = document.activeElement;
      var backdrop = document.createElement("div");
      backdrop.className = "sandbox-3ds-backdrop";
      backdrop.innerHTML =
        '<div class="sandbox-3ds" role="dialog" aria-modal="true" ' +
        'aria-labelledby="sandbox-3ds-title" aria-describedby="sandbox-3ds-text">' +
        '<button type="button" class="close">\u00d7</button>' +
        '<h2 id="sandbox-3ds-title"></h2><p id="sandbox-3ds-text"></p>' +
        '<div class="sandbox-3ds-buttons">' +
        '<button type="button" class="complete"></button>' +
        '<button type="button" class="fail"></button></div></div>';
      backdrop.querySelector("h2").textContent = t.title;
      backdrop.querySelector("p").textContent =
        t.body.replace("{amount}", amountIn(intent, language));
      var complete = backdrop.querySelector(".complete");
      var fail = backdrop.querySelector(".fail");
      complete.textContent = t.complete;
      fail.textContent = t.fail;
      var close = backdrop.querySelector(".close");
      close.setAttribute("aria-label", t.close);
      close.title = t.close;
      function choose(outcome) {
        backdrop.remove();
        if (before && before.focus && document.contains(before)) before.focus();
        resolve(outcome);
      }
      complete.addEventListener("click", function () { choose("complete"); });
      fail.addEventListener("click", function () { choose("fail"); });
      close.addEventListener("click", function () { choose("fail"); });  // closing fails it
      backdrop.addEventListener("keydown", function (event) {
        if (event.key === "Escape") {
          choose("fail");
        } else if (event.key === "Tab") {
          // In the page's order: close, complete, fail; round again at either end.
          var edge = event.shiftKey ? close : fail;
          if (document.activeElement === edge || !backdrop.contains(document.activeElement)) {
            event.preventDefault();
            (event.shiftKey ? fail : close).focus();
          }
        }
      });
      document.body.appendChild(backdrop);
      complete.focus();
    });
  }

  // ---- Stripe(pk) ------------------------------------------------------------

  function Stripe(key, options) {
    if (!(this instanceof Stripe)) return new Stripe(key, options);
    if (typeof key !== "string" || key.indexOf("pk_") !== 0) {
      throw new Error("Stripe shim: use your publishable key (pk_...), not " + key);
    }
    this.key = key;
    this.language = languageOf(options && options.locale);
    injectStyle();
  }

  Stripe.prototype._request = function (method, path, params) {
    var url = API + path;
    var init = { method: method, headers: { Authorization: "Bearer " + this.key } };
    var body = encode(params || {});
    if (method === "GET") {
      if (body) url += "?" + body;
    } else {
      init.headers["Content-Type"] = "application/x-www-form-urlencoded";
      init.body = body;
    }
    var texts = TEXTS[this.language];
    return fetch(url, init).then(function (response) {
      return response.json().then(function (json) {
        return response.ok ? { ok: json } : { error: json.error };
      });
    }, function () { return connectionError(texts); });
  };

  Stripe.prototype._intentId = function (clientSecret) {
    return String(clientSecret || "").split("_secret_")[0];
  };

  Stripe.prototype._retrieve = function (clientSecret) {
    return this._request("GET", "/v1/payment_intents/" + this._intentId(clientSecret),
      { client_secret: clientSecret });
  };

  Stripe.prototype.elements = function (elementsOptions) {
    var language = elementsOptions && elementsOptions.locale
      ? languageOf(elementsOptions.locale) : this.language;
    return { create: function (type, options) {
      if (type !== "card") throw new Error("Stripe shim: only the 'card' Element exists here");
      return new CardElement(options, language);
    } };
  };

  Stripe.prototype._cardParams = function (element, billingDetails) {
    var s = element.state(true);
    if (s.error) {
      element._markInvalid(s.error);
      return { error: { type: "validation_error", code: s.error,
                        message: TEXTS[element.language][s.error] } };
    }
    var params = { type: "card", card: { number: s.number, exp_month: s.expMonth,
      exp_year: s.expYear, cvc: s.cvc } };
    if (billingDetails) params.billing_details = billingDetails;
    return { params: params };
  };

  Stripe.prototype.createPaymentMethod = function (data, legacyElement, legacyData) {
    if (typeof data === "string") {  // createPaymentMethod('card', element, data)
      data = Object.assign({ type: data, card: legacyElement }, legacyData || {});
    }
    if (!data || data.type !== "card" || !(data.card instanceof CardElement)) {
      return Promise.resolve({ error: { type: "validation_error",
        message: "createPaymentMethod needs {type: 'card', card: cardElement}." } });
    }
    var built = this._cardParams(data.card, data.billing_details);
    if (built.error) return Promise.resolve(built);
    return this._request("POST", "/v1/payment_methods", built.params).then(function (r) {
      return r.error ? { error: r.error } : { paymentMethod: r.ok };
    });
  };

  Stripe.prototype.retrievePaymentIntent = function (clientSecret) {
    return this._retrieve(clientSecret).then(function (r) {
      return r.error ? { error: r.error } : { paymentIntent: r.ok };
    });
  };

  Stripe.prototype._challenge = function (intent, clientSecret) {
    var self = this;
    return challenge(intent, this.language).then(function (outcome) {
      return fetch(API + "/_sandbox/payment_intents/" + intent.id + "/authenticate", {
        method: "POST",
        headers: { "Content-Type": "application/x-www-form-urlencoded" },
        body: encode({ outcome: outcome, client_secret: clientSecret })
      }).then(function () { return self._retrieve(clientSecret); },
              function () { return connectionError(TEXTS[self.language]); });
    });
  };

  // Stripe.js's IntegrationError: an Error named so, with Stripe's message.
  function integrationError(message) {
    var error = new Error(message);
    error.name = "IntegrationError";
    return error;
  }

  function failure(intent) {
    var error = Object.assign({}, intent.last_payment_error || {
      type: "invalid_request_error", message: "The payment was not completed." });
    error.payment_intent = intent;
    return { error: error };
  }

  // An intent handleCardAction is not for (automatic confirmation, or not waiting at the
  // bank) is a mistake of the integration to Stripe.js: it throws, so the promise
  // rejects with an IntegrationError (no {error} result, no payment_intent), as Stripe.js
  // does ("Uncaught (in promise) IntegrationError: handleCardAction: …").
  Stripe.prototype.handleCardAction = function (clientSecret) {
    var self = this;
    return this._retrieve(clientSecret).then(function (r) {
      if (r.error) return { error: r.error };
      var intent = r.ok;
      if (intent.confirmation_method !== "manual") {
        throw integrationError("handleCardAction: The PaymentIntent supplied does not " +
          "require manual server-side confirmation. Please use confirmCardPayment instead " +
          "to complete the payment.");
      }
      if (intent.status !== "requires_action") {
        throw integrationError("handleCardAction: The PaymentIntent supplied is not in " +
          "the requires_action state.");
      }
      return self._challenge(intent, clientSecret).then(function (after) {
        if (after.error) return { error: after.error };
        return after.ok.status === "requires_confirmation" ? { paymentIntent: after.ok }
                                                           : failure(after.ok);
      });
    });
  };

  Stripe.prototype.confirmCardPayment = function (clientSecret, data, options) {
    var self = this;
    data = data || {};
    var handleActions = !options || options.handleActions !== false;
    var params = { client_secret: clientSecret };
    var method = data.payment_method;
    var ready = Promise.resolve(null);
    if (method && typeof method === "object" && method.card instanceof CardElement) {
      ready = this.createPaymentMethod({ type: "card", card: method.card,
                                         billing_details: method.billing_details });
    } else if (typeof method === "string") {
      params.payment_method = method;
    }
    return ready.then(function (created) {
      if (created && created.error) return created;
      if (created) params.payment_method = created.paymentMethod.id;
      if (data.return_url) params.return_url = data.return_url;
      return self._request("POST", "/v1/payment_intents/" + self._intentId(clientSecret) +
                           "/confirm", params);
    }).then(function (r) {
      if (r.error && !r.ok) return { error: r.error };
      var intent = r.ok;
      if (intent.status !== "requires_action" || !handleActions) {
        return intent.status === "requires_payment_method" ? failure(intent)
                                                           : { paymentIntent: intent };
      }
      return self._challenge(intent, clientSecret).then(function (after) {
        if (after.error) return { error: after.error };
        return after.ok.status === "requires_payment_method" ? failure(after.ok)
                                                             : { paymentIntent: after.ok };
      });
    });
  };

  window.Stripe = Stripe;
})();

// The workbench's only script, loaded from this node (the CSP allows no inline script): buttons
// marked data-print open the browser's print dialog, and the 新建订单 form gets its customer
// lookup, a grid walked by the keyboard and totals kept as the clerk types. Every page works
// without it (the server resolves the customer and computes every amount again).
(function () {
  "use strict";

  // Exact decimals in BigInt units, so the page shows the amounts the server will compute.
  var TEN = BigInt(10);
  function pow10(n) {
    var v = BigInt(1);
    for (var i = 0; i < n; i++) v *= TEN;
    return v;
  }
  // text as value x 10^places, or null if it is not a plain non-negative number with at most
  // that many decimal places (thousands separators and ¥ are let through, as on the server).
  function scaled(text, places) {
    var t = String(text).trim().replace(/[,，¥￥]/g, "");
    var m = /^(\d{1,12})(?:\.(\d{1,8}))?$/.exec(t);
    if (!m) return null;
    var frac = (m[2] || "").replace(/0+$/, "");
    if (frac.length > places) return null;
    while (frac.length < places) frac += "0";
    return BigInt(m[1] + frac);
  }
  // n / d rounded half away from zero (n >= 0, d > 0): the company's 四舍五入.
  function divRound(n, d) {
    return (n * BigInt(2) + d) / (BigInt(2) * d);
  }
  // A tax rate as 0.13, 13 or 13%, x 10^8; 0 when empty or unreadable.
  function rate8(text) {
    var t = String(text).trim();
    var percent = /[%％]$/.test(t);
    if (percent) t = t.slice(0, -1);
    var r = scaled(t, 8);
    if (r === null) return BigInt(0);
    if (percent || r >= pow10(8)) r = r / BigInt(100);
    return r;
  }
  function yuan(cents) {
    var negative = cents < BigInt(0);
    var abs = negative ? -cents : cents;
    var whole = (abs / BigInt(100)).toString();
    var rest = (abs % BigInt(100)).toString();
    if (rest.length < 2) rest = "0" + rest;
    var grouped = whole.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
    return (negative ? "-" : "") + "¥" + grouped + "." + rest;
  }

  function setupPrint() {
    document.querySelectorAll("[data-print]").forEach(function (button) {
      button.addEventListener("click", function () {
        window.print();
      });
    });
  }

  function setupOrderEntry(form) {
    var table = form.querySelector("#entry-lines tbody");
    var customerBox = form.querySelector("#customer_q");
    var customerId = form.querySelector("#customer_id");
    var chosen = form.querySelector("#customer-chosen");
    var list = form.querySelector("#customer-choices");
    var taxIncluded = form.querySelector("#tax_included");
    var taxRate = form.querySelector("#tax_rate");

    function rows() {
      return Array.prototype.slice.call(table.querySelectorAll("tr.entry-line"));
    }
    function cells(row) {
      return Array.prototype.slice.call(row.querySelectorAll("input[data-cell]"));
    }
    function blank(row) {
      return cells(row).every(function (input) {
        return input.value.trim() === "";
      });
    }

    // With the script, the grid grows on Enter: blank lines past the last typed one go.
    var all = rows();
    var keep = 1;
    all.forEach(function (row, i) {
      if (!blank(row)) keep = i + 1;
    });
    all.slice(keep).forEach(function (row) {
      row.remove();
    });

    function addLine() {
      var last = rows()[rows().length - 1];
      var index = rows().length;
      var row = last.cloneNode(true);
      row.querySelectorAll(".field-error").forEach(function (e) {
        e.remove();
      });
      cells(row).forEach(function (input) {
        input.value = "";
        input.name = input.getAttribute("data-cell") + "_" + index;
      });
      row.querySelector(".position").textContent = String(index + 1);
      row.querySelector(".line-amount").textContent = "";
      table.appendChild(row);
      return row;
    }

    function recompute() {
      var gross = BigInt(0);
      var net = BigInt(0);
      var r8 = rate8(taxRate.value);
      var withTax = taxIncluded.checked;
      rows().forEach(function (row) {
        var q = scaled(row.querySelector("[data-cell=quantity]").value, 3);
        var p = scaled(row.querySelector("[data-cell=unit_price]").value, 4);
        var out = row.querySelector(".line-amount");
        if (q === null || p === null) {
          out.textContent = "";
          return;
        }
        var cents = divRound(q * p, pow10(5));
        out.textContent = yuan(cents);
        gross += cents;
        net += withTax ? divRound(cents * pow10(8), pow10(8) + r8) : cents;
      });
      form.querySelector("#total-gross").textContent = yuan(gross);
      form.querySelector("#total-tax").textContent = yuan(gross - net);
      form.querySelector("#total-net").textContent = yuan(net);
    }

    // The inputs a person types in, in page order (hidden ones left out).
    function fields() {
      return Array.prototype.slice.call(
        form.querySelectorAll("input:not([type=hidden]), button[type=submit]")
      ).filter(function (el) {
        return !el.closest("[hidden]");
      });
    }
    function focusAfter(el) {
      var all = fields();
      var next = all[all.indexOf(el) + 1];
      if (next) next.focus();
    }

    table.addEventListener("keydown", function (event) {
      var input = event.target;
      if (event.key !== "Enter" || event.ctrlKey || !input.hasAttribute("data-cell")) return;
      event.preventDefault();
      var row = input.closest("tr");
      var inRow = cells(row);
      var at = inRow.indexOf(input);
      if (at < inRow.length - 1) {
        inRow[at + 1].focus();
        return;
      }
      var all = rows();
      var next = all[all.indexOf(row) + 1] || addLine();
      cells(next)[0].focus();
    });

    form.addEventListener("keydown", function (event) {
      if (event.key !== "Enter") return;
      if (event.ctrlKey || event.metaKey) {
        event.preventDefault();
        if (form.requestSubmit) form.requestSubmit();
        else form.submit();
        return;
      }
      var el = event.target;
      // Enter in a header field moves on instead of sending a half-typed order.
      if (el.tagName === "INPUT" && el.closest(".order-head") && el !== customerBox) {
        event.preventDefault();
        focusAfter(el);
      }
    });

    form.addEventListener("input", recompute);
    form.addEventListener("change", recompute);
    recompute();

    // The customer: looked up as typed, chosen with ↑↓ and Enter.
    var active = -1;
    var asked = 0;
    var timer = null;
    function options() {
      return Array.prototype.slice.call(list.querySelectorAll("li[data-id]"));
    }
    function show(open) {
      list.hidden = !open;
      customerBox.setAttribute("aria-expanded", open ? "true" : "false");
    }
    function highlight(i) {
      var all = options();
      if (all.length === 0) return;
      active = (i + all.length) % all.length;
      all.forEach(function (li, n) {
        li.classList.toggle("active", n === active);
        li.setAttribute("aria-selected", n === active ? "true" : "false");
      });
      customerBox.setAttribute("aria-activedescendant", all[active].id);
    }
    function choose(li) {
      customerId.value = li.getAttribute("data-id");
      customerBox.value = li.textContent;
      chosen.textContent = "已选：" + li.textContent;
      var error = form.querySelector("#error-customer");
      if (error) error.remove();
      show(false);
      focusAfter(customerBox);
    }
    function lookup() {
      var q = customerBox.value.trim();
      var mine = ++asked;
      if (q === "") {
        list.textContent = "";
        show(false);
        return;
      }
      fetch("/ui/customers/lookup?q=" + encodeURIComponent(q), {
        credentials: "same-origin",
        headers: { Accept: "application/json" },
      })
        .then(function (response) {
          return response.ok ? response.json() : [];
        })
        .then(function (found) {
          if (mine !== asked) return;
          list.textContent = "";
          found.forEach(function (c, n) {
            var li = document.createElement("li");
            li.id = "customer-option-" + n;
            li.setAttribute("role", "option");
            li.setAttribute("data-id", c.id);
            li.textContent = c.label;
            li.addEventListener("mousedown", function (event) {
              event.preventDefault();
              choose(li);
            });
            list.appendChild(li);
          });
          if (found.length === 0) {
            var none = document.createElement("li");
            none.className = "muted";
            none.textContent = "没有找到客户";
            list.appendChild(none);
          }
          show(true);
          active = -1;
          highlight(0);
        })
        .catch(function () {
          // Offline or signed out: the server resolves what was typed on submit.
        });
    }
    customerBox.addEventListener("input", function () {
      customerId.value = "";
      chosen.textContent = "";
      clearTimeout(timer);
      timer = setTimeout(lookup, 120);
    });
    customerBox.addEventListener("keydown", function (event) {
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        event.preventDefault();
        if (list.hidden) {
          lookup();
          return;
        }
        highlight(active + (event.key === "ArrowDown" ? 1 : -1));
      } else if (event.key === "Enter" && !event.ctrlKey && !event.metaKey) {
        event.preventDefault();
        var all = options();
        if (!list.hidden && all[active]) choose(all[active]);
        else if (customerBox.value.trim() !== "") focusAfter(customerBox);
      } else if (event.key === "Escape") {
        show(false);
      }
    });
    customerBox.addEventListener("blur", function () {
      setTimeout(function () {
        show(false);
      }, 150);
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    setupPrint();
    var form = document.getElementById("new-order");
    if (form) setupOrderEntry(form);
  });
})();

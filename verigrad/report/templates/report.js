/* verigrad report: filters and copy buttons, plain JavaScript, no libraries. */
(function () {
  "use strict";
  var failures = document.getElementById("f-failures");
  var engine = document.getElementById("f-engine");
  var dtype = document.getElementById("f-dtype");
  var status = document.getElementById("f-status");
  var items = document.querySelectorAll(".f");

  function visible(el, onlyFailing, e, d) {
    var data = el.dataset;
    if (onlyFailing && data.failing === "0") return false;
    if (e && data.engine !== undefined && data.engine !== e) return false;
    if (d && data.dtype !== undefined && data.dtype !== d) return false;
    return true;
  }

  function apply() {
    var onlyFailing = failures.checked, e = engine.value, d = dtype.value;
    var shown = 0;
    for (var i = 0; i < items.length; i++) {
      var show = visible(items[i], onlyFailing, e, d);
      items[i].hidden = !show;
      if (show && items[i].classList.contains("vrow")) shown += 1;
    }
    document.body.classList.toggle("failures-only", onlyFailing);
    status.textContent = (onlyFailing || e || d) ? shown + " checks shown" : "";
  }

  failures.addEventListener("change", apply);
  engine.addEventListener("change", apply);
  dtype.addEventListener("change", apply);

  // Following a link to something the filters hide: clear the filters first.
  function reveal() {
    var id = decodeURIComponent(location.hash.slice(1));
    var target = id && document.getElementById(id);
    if (!target) return;
    for (var el = target; el && el !== document.body; el = el.parentElement) {
      if (el.hidden) {
        failures.checked = false; engine.value = ""; dtype.value = "";
        apply();
        target.scrollIntoView();
        return;
      }
    }
  }
  window.addEventListener("hashchange", reveal);

  function copied(button, ok) {
    button.textContent = ok ? "copied" : "select and copy";
    window.setTimeout(function () { button.textContent = "copy"; }, 1500);
  }

  function fallbackCopy(button, pre) {
    var range = document.createRange();
    range.selectNodeContents(pre);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
    var ok = false;
    try { ok = document.execCommand("copy"); } catch (err) { ok = false; }
    copied(button, ok);
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("button.copy") : null;
    if (!button) return;
    var pre = document.getElementById(button.getAttribute("data-target"));
    if (!pre) return;
    var text = pre.textContent;
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(
        function () { copied(button, true); },
        function () { fallbackCopy(button, pre); }
      );
    } else {
      fallbackCopy(button, pre);
    }
  });

  apply();
})();

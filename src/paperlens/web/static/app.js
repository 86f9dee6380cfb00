/* paperlens: small enhancements; every page works without this file. */
(function () {
  "use strict";

  function renderMath() {
    if (typeof window.renderMathInElement !== "function") return;
    var options = {
      delimiters: [
        { left: "$$", right: "$$", display: true },
        { left: "\\[", right: "\\]", display: true },
        { left: "\\(", right: "\\)", display: false },
        { left: "$", right: "$", display: false }
      ],
      throwOnError: false,
      errorColor: "inherit", // an author's own macro (\JJ) stays readable TeX, not red
      trust: false,
      ignoredTags: ["script", "noscript", "style", "textarea", "pre", "code", "option"]
    };
    var nodes = document.querySelectorAll(".math");
    for (var i = 0; i < nodes.length; i++) {
      try { window.renderMathInElement(nodes[i], options); } catch (e) { /* leave the TeX as text */ }
    }
  }

  function focusSearchOnSlash() {
    document.addEventListener("keydown", function (event) {
      if (event.key !== "/" || event.ctrlKey || event.metaKey || event.altKey) return;
      var target = event.target;
      var tag = target && target.tagName ? target.tagName.toLowerCase() : "";
      if (tag === "input" || tag === "textarea" || tag === "select" || target.isContentEditable) return;
      var box = document.getElementById("q") || document.getElementById("header-q");
      if (box) { event.preventDefault(); box.focus(); box.select(); }
    });
  }

  // The Cite panel's Copy buttons: hidden without JavaScript (the text is selectable
  // and downloadable anyway), shown here when the clipboard can be written.
  function copyButtons() {
    if (!navigator.clipboard || !navigator.clipboard.writeText) return;
    var buttons = document.querySelectorAll("button.copy-button[data-copy]");
    for (var i = 0; i < buttons.length; i++) {
      (function (button) {
        button.hidden = false;
        button.addEventListener("click", function () {
          var source = document.getElementById(button.getAttribute("data-copy"));
          if (!source) return;
          navigator.clipboard.writeText(source.textContent).then(function () {
            button.textContent = "Copied";
            setTimeout(function () { button.textContent = "Copy"; }, 2000);
          }, function () { button.textContent = "Copy failed"; });
        });
      })(buttons[i]);
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    renderMath();
    focusSearchOnSlash();
    copyButtons();
  });
})();

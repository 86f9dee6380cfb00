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

  document.addEventListener("DOMContentLoaded", function () {
    renderMath();
    focusSearchOnSlash();
  });
})();

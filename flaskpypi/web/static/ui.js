// flaskpypi: live search and copy buttons. Every page works without this file.
(function () {
  "use strict";

  // Copy buttons: <button data-copy="ID"> copies the text of element ID.
  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text);
    }
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.style.position = "fixed";
    area.style.opacity = "0";
    document.body.appendChild(area);
    area.select();
    try {
      document.execCommand("copy");
    } finally {
      document.body.removeChild(area);
    }
    return Promise.resolve();
  }

  document.querySelectorAll("button[data-copy]").forEach(function (button) {
    button.hidden = false;
    var label = button.textContent;
    var name = button.getAttribute("aria-label");
    function say(text, spoken) {
      button.textContent = text;
      if (name) button.setAttribute("aria-label", spoken);
    }
    button.addEventListener("click", function () {
      var source = document.getElementById(button.getAttribute("data-copy"));
      if (!source) return;
      copyText(source.textContent.trim()).then(function () {
        say("Copied!", "Copied");
        setTimeout(function () { say(label, name); }, 1600);
      }, function () {
        say("Select and copy", "Copying failed: select the text and copy it");
      });
    });
  });

  // Live search: the home page's box asks the server for the list as the visitor types.
  var form = document.getElementById("search-form");
  var results = document.getElementById("results");
  if (!form || !results) return;
  var input = form.querySelector("input[name=q]");
  var timer = null;
  var latest = 0;

  function search() {
    var query = input.value.trim();
    var params = new URLSearchParams(new FormData(form));  // the scope (?index=) rides along
    if (!query) params.delete("q");
    var url = form.getAttribute("action") + "?" + params.toString();  // what the address bar shows
    var ticket = ++latest;
    results.setAttribute("aria-busy", "true");
    fetch(url + (params.toString() ? "&" : "") + "partial=1", { headers: { "Accept": "text/html" }, credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) throw new Error(response.status);
        return response.text();
      })
      .then(function (html) {
        if (ticket !== latest) return; // an older answer arriving late
        results.innerHTML = html;
        results.removeAttribute("aria-busy");
        history.replaceState(null, "", params.toString() ? url : form.getAttribute("action"));
      })
      .catch(function () {
        results.removeAttribute("aria-busy");
      });
  }

  input.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(search, 180);
  });
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    clearTimeout(timer);
    search();
  });
})();

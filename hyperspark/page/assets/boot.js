// Unpacks what the page carries compressed (plotly.js and the search's data: gzip, base64),
// then draws the page. Everything is inside the file: nothing is fetched.
(function () {
  "use strict";
  function inflate(id) {
    var text = atob(document.getElementById(id).textContent.trim());
    var bytes = new Uint8Array(text.length);
    for (var i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
    var stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
    return new Response(stream).text();
  }
  function fail(error) {
    var note = document.createElement("p");
    note.className = "note";
    note.textContent = "This page could not draw its charts (" + error + "). It needs a " +
      "browser that can unpack gzip (DecompressionStream): Chrome or Edge 80+, Firefox " +
      "113+, Safari 16.4+.";
    document.querySelector("header").appendChild(note);
    console.error(error);
  }
  if (typeof DecompressionStream === "undefined") { fail("no DecompressionStream"); return; }
  Promise.all([inflate("plotly-gz"), inflate("search-data-gz")]).then(function (parts) {
    var script = document.createElement("script");
    script.textContent = parts[0];
    document.head.appendChild(script);  // runs now: defines window.Plotly
    window.hypersparkData = JSON.parse(parts[1]);
    window.hypersparkDraw(window.hypersparkData);
  }).catch(fail);
})();

// Small behaviours of our own on top of htmx: keep focus on the first field with an error after a swap.
document.addEventListener("htmx:afterSwap", function (event) {
  var invalid = event.detail.target.querySelector && event.detail.target.querySelector(".is-invalid");
  if (invalid) { invalid.focus(); }
});

// Small behaviours of our own on top of htmx. No inline scripts anywhere: the security policy forbids them.

// Keep focus on the first field with an error after a swap.
document.addEventListener("htmx:afterSwap", function (event) {
  var invalid = event.detail.target.querySelector && event.detail.target.querySelector(".is-invalid");
  if (invalid) { invalid.focus(); }
});

// A poller with data-follow-switch="<checkbox id>" asks only while that box is ticked ("Follow new lines").
document.addEventListener("htmx:confirm", function (event) {
  var switchId = event.detail.elt.getAttribute && event.detail.elt.getAttribute("data-follow-switch");
  if (!switchId) { return; }
  var box = document.getElementById(switchId);
  if (!box || !box.checked) { event.preventDefault(); }
});

// Buttons that print the page (receipts).
document.addEventListener("click", function (event) {
  var button = event.target.closest && event.target.closest("[data-print]");
  if (button) { window.print(); }
});

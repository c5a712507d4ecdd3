// Opens Midtrans Snap for the invoice on this page; every outcome leads to the status page,
// which asks our server (never the browser) whether the payment really happened.
(function () {
  var data = JSON.parse(document.getElementById("snap-data").textContent);
  function toStatus() { window.location = data.status; }
  function open() {
    if (!window.snap || !data.token) { return; }
    window.snap.pay(data.token, { onSuccess: toStatus, onPending: toStatus, onError: toStatus, onClose: toStatus });
  }
  document.getElementById("pay-button").addEventListener("click", function (event) {
    if (window.snap && data.token) { event.preventDefault(); open(); }
  });
  window.addEventListener("load", open);
})();

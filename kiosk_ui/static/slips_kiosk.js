// The goods-out screens: keep the scanner's field focused; one tap, one request.
(function () {
  const input = document.getElementById("slip-input");
  if (input) {
    // A keyboard-wedge scanner types into whatever has focus: give it back to the field whenever
    // nothing else is being used (a tap on empty screen, the end of a page load).
    const refocus = () => setTimeout(() => {
      const active = document.activeElement;
      if (!active || active === document.body || active === document.documentElement) input.focus();
    }, 0);
    input.addEventListener("blur", refocus);
    document.addEventListener("pointerup", refocus);
    input.form.addEventListener("submit", (event) => {
      if (!input.value.trim()) event.preventDefault();  // an empty Enter sends nothing
    });
    input.focus();
  }
  // A double tap (or a scanner's CR and LF) sends a form once.
  document.querySelectorAll("form").forEach((form) => {
    form.addEventListener("submit", (event) => {
      if (event.defaultPrevented) return;
      if (form.dataset.sent) { event.preventDefault(); return; }
      form.dataset.sent = "1";
    });
  });
  window.addEventListener("pageshow", () => {
    document.querySelectorAll("form").forEach((form) => { delete form.dataset.sent; });
    if (input) input.focus();
  });
})();

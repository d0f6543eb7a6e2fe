// Page actions that used to be inline handlers (the CSP allows no inline script): a button
// with data-print prints the page; a form with data-confirm asks before it is sent.
(function () {
  document.addEventListener("click", (event) => {
    if (event.target.closest("[data-print]")) window.print();
  });
  document.addEventListener("submit", (event) => {
    const form = event.target.closest("form[data-confirm]");
    if (form && !window.confirm(form.dataset.confirm)) event.preventDefault();
  });
})();

// The workbench's only script, loaded from this node (the CSP allows no inline script): buttons
// marked data-print open the browser's print dialog. Every page works without it.
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("[data-print]").forEach(function (button) {
    button.addEventListener("click", function () {
      window.print();
    });
  });
});

// churnml CSM page: the only script. Filters apply as soon as a select changes (the page works without it).
document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("filters");
  if (!form) return;
  form.querySelectorAll("select").forEach((el) => el.addEventListener("change", () => form.submit()));
});

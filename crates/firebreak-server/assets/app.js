// Firebreak's own few lines of script, beside htmx (no inline script: the pages' policy
// forbids it).
//
// The room's panels refresh whenever someone else changes the incident, and keep what is
// being typed in them (hx-preserve). So a form marked data-reset-on-success is emptied here
// once the server has taken it. The form that sent the request may have been replaced by a
// refresh meanwhile; the one on the page now, found by its id, holds the typed fields.
document.addEventListener('htmx:afterRequest', (event) => {
  const sent = event.detail.elt;
  if (!event.detail.successful || !(sent instanceof HTMLFormElement)) return;
  if (!sent.hasAttribute('data-reset-on-success')) return;
  const live = (sent.id && document.getElementById(sent.id)) || sent;
  live.reset();
});

// Reviewer queue: a refused decision comes back as HTTP 400 with the item and its message.
// htmx leaves error responses unswapped by default; show this one in place instead.
document.addEventListener("htmx:beforeSwap", function (event) {
  if (event.detail.xhr.status === 400) {
    event.detail.shouldSwap = true;
    event.detail.isError = false;
  }
});

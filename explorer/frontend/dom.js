// latent-explorer: small DOM helpers shared by the components (plane.js, timelapse.js), which each
// load this file before their own (explorer/latent_plane.py, explorer/player.py).

// A new element: ``text`` sets its text, ``className`` its class, any other key an attribute.
function el(tag, attrs = {}, parent = null) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "text") node.textContent = v;
    else if (k === "className") node.className = v;
    else node.setAttribute(k, v);
  }
  if (parent) parent.appendChild(node);
  return node;
}

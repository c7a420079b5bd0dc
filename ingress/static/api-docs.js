// Renders this ingress's own /openapi.json with Swagger UI (served beside it, no CDN).
"use strict";
window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis],
    // No "validator badge": it would send the document to a third party.
    validatorUrl: null,
  });
});

// Shows the vendored SIP.js version (inline scripts are not allowed by the page's CSP).
document.getElementById('version').textContent = SIP.version;

"""One scheduler per mode: prepare() checks the options before any work, plan() lists the steps, run() does them."""

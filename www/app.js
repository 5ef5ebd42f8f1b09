// The web UI's entry point: for now it only shows whether the daemon answers.
const state = document.getElementById("state");

async function showState() {
    try {
        const response = await fetch("/api/state", { credentials: "same-origin" });
        const body = await response.json().catch(() => ({}));
        if (response.ok)
            state.textContent = "Connected to porchlightd.";
        else
            state.textContent = body.error || `The daemon answered ${response.status}.`;
    } catch (error) {
        state.textContent = `Cannot reach porchlightd: ${error.message}`;
    }
}

showState();

// First-run setup, the recovery key shown once, and login.
import { api, ApiError } from "./api.js";
import { h, field, errorBox, showError } from "./dom.js";

/** The setup form; \a done(csrf, recoveryKey) runs once the owner exists. */
export function setupPage(done) {
    const code = field("Setup code", {
        name: "code", autocomplete: "off", spellcheck: "false", autocapitalize: "off",
        required: true,
    }, "From porchlightd's log, or run \"porchlightctl setup-code\" as root.");
    const pass = field("Passphrase", {
        name: "passphrase", type: "password", autocomplete: "new-password", required: true,
        minlength: 8,
    }, "At least 8 characters. It opens your recordings; nobody can reset it.");
    const confirm = field("Confirm passphrase", {
        name: "confirm", type: "password", autocomplete: "new-password", required: true,
    });
    const error = errorBox();
    const busy = h("p", { role: "status", class: "busy" });
    const submit = h("button", { type: "submit" }, "Set up");
    const form = h("form", { novalidate: true }, code.node, pass.node, confirm.node, error,
        h("div", { class: "actions" }, submit), busy);
    form.addEventListener("submit", async (event) => {
        event.preventDefault();
        showError(error, "");
        if (!code.input.value.trim())
            return fail("enter the setup code.", code.input);
        if (pass.input.value !== confirm.input.value)
            return fail("the passphrase and its confirmation differ.", confirm.input);
        submit.disabled = true;
        busy.textContent = "Creating your key… this takes a few seconds.";
        try {
            const result = await api("/api/setup", {
                method: "POST",
                body: {
                    code: code.input.value.trim(),
                    passphrase: pass.input.value,
                    confirm: confirm.input.value,
                },
            });
            pass.input.value = confirm.input.value = "";
            done(result.csrf, result.recoveryKey);
        } catch (e) {
            busy.textContent = "";
            submit.disabled = false;
            fail(e.message, null, e);
        }
    });
    function fail(message, input, e) {
        showError(error, message);
        if (e instanceof ApiError && e.retryAfter)
            holdOff(submit, e.retryAfter, busy);
        (input || error).focus?.();
    }
    return {
        title: "Set up",
        node: h("section", { "aria-labelledby": "setup-h" },
            h("h1", { id: "setup-h", tabindex: "-1" }, "Set up Porchlight"),
            h("p", {}, "No owner exists yet. Choose the passphrase that will protect your " +
                "recordings. You will then get a recovery key."),
            form),
    };
}

/** The recovery key, shown once; \a onContinue runs when the owner has saved it. */
export function recoveryKeyPage(recoveryKey, onContinue) {
    const saved = h("input", { type: "checkbox", id: "saved" });
    const next = h("button", { type: "button", disabled: true }, "Continue");
    const download = h("button", { type: "button", class: "secondary" }, "Download");
    saved.addEventListener("change", () => { next.disabled = !saved.checked; });
    next.addEventListener("click", () => {
        if (saved.checked)
            onContinue();
    });
    download.addEventListener("click", () => {
        const text = "Porchlight recovery key\n\n" + recoveryKey + "\n\n" +
            "It opens your recordings if the passphrase is lost: with it you can log in to the\n" +
            "web page, and porchlight-vault can decrypt recordings without the device.\n" +
            "Keep it somewhere safe, away from the device.\n";
        const url = URL.createObjectURL(new Blob([text], { type: "text/plain" }));
        const a = h("a", { href: url, download: "porchlight-recovery-key.txt", hidden: true });
        document.body.append(a);
        a.click();
        a.remove();
        setTimeout(() => URL.revokeObjectURL(url), 60000);
    });
    return {
        title: "Recovery key",
        node: h("section", { "aria-labelledby": "rk-h" },
            h("h1", { id: "rk-h", tabindex: "-1" }, "Your recovery key"),
            h("p", {}, h("strong", {}, "It is shown only this once. "),
                "If you forget the passphrase, this key still opens your recordings. Write it " +
                "down or download it, and keep it away from the device."),
            h("p", { class: "recovery-key", id: "recovery-key" }, recoveryKey),
            h("div", { class: "actions" }, download),
            h("div", { class: "check" }, saved, h("label", { for: "saved" }, "I have saved it")),
            h("div", { class: "actions" }, next)),
    };
}

/** The login form; \a done(csrf) runs once a session exists. */
export function loginPage(done, notice = "") {
    let useRecovery = false;
    const pass = field("Passphrase", {
        name: "passphrase", type: "password", autocomplete: "current-password", required: true,
    });
    const key = field("Recovery key", {
        name: "recoveryKey", autocomplete: "off", spellcheck: "false", autocapitalize: "off",
        required: true,
    }, "9 groups of 6 letters and digits; dashes and spaces are optional.");
    key.node.hidden = true;
    const toggle = h("button", { type: "button", class: "link" },
        "Log in with the recovery key instead");
    toggle.addEventListener("click", () => {
        useRecovery = !useRecovery;
        pass.node.hidden = useRecovery;
        key.node.hidden = !useRecovery;
        toggle.textContent = useRecovery ? "Log in with the passphrase instead"
            : "Log in with the recovery key instead";
        (useRecovery ? key.input : pass.input).focus();
    });
    const error = errorBox();
    const busy = h("p", { role: "status", class: "busy" });
    const submit = h("button", { type: "submit" }, "Log in");
    const form = h("form", { novalidate: true }, pass.node, key.node, error,
        h("div", { class: "actions" }, submit, toggle), busy);
    form.addEventListener("submit", async (event) => {
        event.preventDefault();
        showError(error, "");
        const input = useRecovery ? key.input : pass.input;
        if (!input.value.trim()) {
            showError(error, useRecovery ? "enter the recovery key." : "enter the passphrase.");
            return input.focus();
        }
        submit.disabled = true;
        busy.textContent = "Checking…";
        try {
            const result = await api("/api/login", {
                method: "POST",
                body: useRecovery ? { recoveryKey: key.input.value.trim() }
                    : { passphrase: pass.input.value },
            });
            pass.input.value = key.input.value = "";
            done(result.csrf);
        } catch (e) {
            busy.textContent = "";
            submit.disabled = false;
            showError(error, e.message);
            if (e instanceof ApiError && e.retryAfter)
                holdOff(submit, e.retryAfter, busy);
            input.select();
            input.focus();
        }
    });
    return {
        title: "Log in",
        node: h("section", { "aria-labelledby": "login-h" },
            h("h1", { id: "login-h", tabindex: "-1" }, "Log in"),
            notice ? h("p", { class: "notice", role: "status" }, notice) : null,
            form),
    };
}

/** Keeps \a button disabled for \a seconds, counting down in \a status. */
function holdOff(button, seconds, status) {
    let left = Math.ceil(seconds);
    button.disabled = true;
    const tick = () => {
        if (!button.isConnected)
            return;
        if (left <= 0) {
            button.disabled = false;
            status.textContent = "You can try again now.";
            return;
        }
        status.textContent = `Wait ${left} s before trying again.`;
        left -= 1;
        setTimeout(tick, 1000);
    };
    tick();
}

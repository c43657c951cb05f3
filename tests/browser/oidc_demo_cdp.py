"""Signs in to the demo OpenID Connect app in a real headless Chromium, as a person would:
clicks the app's sign-in button, types on govgate's login form, presses Allow on the consent
page, and ends back on the app.

Usage: oidc_demo_cdp.py DEVTOOLS_PORT APP_URL USERNAME PASSWORD
Prints one JSON object: the consent page's text, and the page the browser ended on.
"""
import json
import sys

from login_cdp import DevTools, page_target

LOADED = "document.readyState === 'complete'"


def click(tools, selector, what):
    tools.wait_for(f"{LOADED} && !!document.querySelector({json.dumps(selector)})", what)
    # A mark on this document: gone once the browser has loaded the next one.
    tools.evaluate("window.beforeClick = true")
    tools.evaluate(f"document.querySelector({json.dumps(selector)}).click()")
    tools.wait_for(f"{LOADED} && window.beforeClick === undefined", f"the page after {what}")


def main():
    port, app_url, username, password = sys.argv[1:5]
    tools = DevTools(page_target(port))
    tools.call("Page.enable")
    tools.call("Page.navigate", url=app_url)
    click(tools, "#dang-nhap", "the app's sign-in button")
    tools.wait_for(f"{LOADED} && !!document.getElementById('password')", "govgate's login form")
    login_url = tools.evaluate("location.href")
    tools.evaluate("document.getElementById('username').focus()")
    tools.type_text(username)
    tools.evaluate("document.getElementById('password').focus()")
    tools.type_text(password)
    tools.evaluate("window.beforeClick = true")
    tools.press_enter()
    tools.wait_for(f"{LOADED} && window.beforeClick === undefined", "the page after logging in")
    consent = {
        "url": tools.evaluate("location.href"),
        "text": tools.evaluate("document.body.innerText"),
    }
    click(tools, "button[name=decision][value=allow]", "the consent page's Allow button")
    tools.wait_for(f"{LOADED} && !!document.getElementById('nguoi-dung')", "the app's signed-in page")
    print(json.dumps({
        "login_url": login_url,
        "consent": consent,
        "url": tools.evaluate("location.href"),
        "title": tools.evaluate("document.title"),
        "text": tools.evaluate("document.body.innerText"),
    }, ensure_ascii=False))


if __name__ == "__main__":
    try:
        main()
    except Exception as error:  # one line for the Rust test's failure message
        print(json.dumps({"error": str(error)}))
        sys.exit(1)

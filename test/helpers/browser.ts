// A real browser for the connect flow tests: playwright-core driving Debian's Chromium
// (apt-get install chromium; .ci/run installs it when missing).
import { chromium, type Browser, type BrowserContext } from 'playwright-core';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export async function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
}

/** A fresh browser profile (its own cookies): one per "person" or per device in a test. */
export function newProfile(browser: Browser): Promise<BrowserContext> {
  return browser.newContext();
}

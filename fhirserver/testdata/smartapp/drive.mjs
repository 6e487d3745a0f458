// Drives headless Chromium through SMART launches of the test app with
// Playwright: signs in, picks what the pages ask for, approves, and prints
// what the app reports, one JSON line per launch.
// Usage: node drive.mjs '{"launches":[{"start":URL,"pick":{"client":..,"patient":..,"encounter":..}}],"username":..,"password":..}'
import { chromium } from "playwright-core";

const job = JSON.parse(process.argv[2]);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const context = await browser.newContext();
const page = await context.newPage();
page.setDefaultTimeout(15000);

async function submit(selector) {
  await Promise.all([page.waitForNavigation({ waitUntil: "load" }), page.click(selector)]);
}

async function choose(name, value) {
  const radio = await page.$(`input[type="radio"][name="${name}"]${value ? `[value="${value}"]` : ""}`);
  if (!radio) throw new Error(`no ${name} ${value || ""} to choose on ${page.url()}`);
  await radio.check();
}

async function run(launch) {
  await page.goto(launch.start, { waitUntil: "load" });
  for (let i = 0; i < 20; i++) {
    // launch.html sends the browser on by script: wait until it has.
    await page.waitForURL((u) => !u.pathname.endsWith("/launch.html"), { waitUntil: "load" });
    if (new URL(page.url()).pathname.endsWith("/app.html")) {
      await page.waitForFunction(() => document.getElementById("result").textContent !== "");
      return JSON.parse(await page.textContent("#result"));
    }
    const step = await page.$eval('input[name="_step"]', (e) => e.value).catch(() => "");
    if (await page.$('input[name="password"]')) {
      await page.fill('input[name="username"]', job.username);
      await page.fill('input[name="password"]', job.password);
      await submit('button[type="submit"]');
    } else if (await page.$('input[type="radio"][name="client"]')) { // the EHR launcher
      await choose("client", launch.pick.client);
      await choose("patient", launch.pick.patient);
      await submit('button[type="submit"]:not([name])');
    } else if (step === "patient" || step === "encounter") {
      await choose(step, launch.pick && launch.pick[step]);
      await submit('button[type="submit"]:not([name])');
    } else if (step === "consent") {
      await submit('button[value="approve"]');
    } else if (step === "launch") { // the launcher's encounter step
      await choose("encounter", launch.pick.encounter);
      await submit('button[type="submit"]');
    } else {
      throw new Error(`unexpected page ${page.url()}: ${(await page.content()).slice(0, 500)}`);
    }
  }
  throw new Error(`the launch did not reach the app: ${page.url()}`);
}

try {
  for (const launch of job.launches) {
    console.log(JSON.stringify(await run(launch)));
  }
} finally {
  await browser.close();
}

// Open a notebook in a running JupyterLab (a local server the test started), run all its cells, move
// the first ipywidgets slider and report (JSON on stdout) whether the explorer redrew its figure.
//
//   node tests/browser/check_live_lab.mjs LAB_URL NOTEBOOK ARTIFACT_DIR     LAB_URL = http://127.0.0.1:PORT
//
// Requests to anything but that server are blocked. Runs /usr/bin/chromium (or $CHROMIUM).
import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";
import { resolve } from "node:path";

const [lab, notebook, artifacts] = process.argv.slice(2);
const token = process.env.LAB_TOKEN || "";
const local = (url) => url.startsWith(`${lab}/`) || url.startsWith("data:") || url.startsWith("blob:");

async function main() {
  mkdirSync(artifacts, { recursive: true });
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium", headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
      "--no-first-run"],
  });
  const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
  const blocked = [];
  await context.route("**/*", (route) => {
    if (local(route.request().url())) return route.continue();
    blocked.push(route.request().url());
    return route.abort("blockedbyclient");
  });
  const page = await context.newPage();
  const pageErrors = [];
  page.on("pageerror", (error) => pageErrors.push(String(error)));
  await page.goto(`${lab}/lab/tree/${notebook}?token=${token}`);
  await page.waitForSelector(".jp-Notebook", { timeout: 120000 });
  await page.waitForTimeout(3000);
  await page.locator(".lm-MenuBar-itemLabel", { hasText: /^Run$/ }).click();
  await page.locator(".lm-Menu-itemLabel", { hasText: /^Run All Cells$/ }).click();
  await page.waitForSelector(".widget-slider .noUi-handle", { timeout: 180000 });
  await page.waitForSelector(".jp-OutputArea-output img", { timeout: 60000 });
  await page.waitForTimeout(2000);

  const figure = () => page.evaluate(() => [...document.querySelectorAll(".widget-output img")]
    .map((image) => image.src).join("|"));
  const readouts = () => page.evaluate(() => [...document.querySelectorAll(".widget-readout")]
    .map((readout) => readout.textContent));
  const before = { figure: await figure(), readouts: await readouts() };
  const handle = page.locator(".widget-slider .noUi-handle").first();
  await handle.scrollIntoViewIfNeeded();
  const grip = await handle.boundingBox();
  await page.mouse.move(grip.x + grip.width / 2, grip.y + grip.height / 2);
  await page.mouse.down();
  await page.mouse.move(grip.x + 120, grip.y + grip.height / 2, { steps: 10 });
  await page.mouse.up();
  await page.waitForFunction((old) => {
    const now = [...document.querySelectorAll(".widget-output img")].map((image) => image.src).join("|");
    return now && now !== old;
  }, before.figure, { timeout: 60000 }).catch(() => {});
  const after = { figure: await figure(), readouts: await readouts() };
  const screenshot = resolve(artifacts, "jupyterlab-live-explorer.png");
  await page.screenshot({ path: screenshot });
  await browser.close();
  process.stdout.write(JSON.stringify({
    sliders: before.readouts.length, readoutsBefore: before.readouts, readoutsAfter: after.readouts,
    figureChanged: Boolean(after.figure) && after.figure !== before.figure, pageErrors, blocked, screenshot,
  }, null, 1));
}

main().catch((error) => { console.error(error); process.exit(1); });

// Open built book pages in Debian's headless chromium with the network blocked, move every plotly
// slider and menu, and report (JSON on stdout) whether the figure each one controls changed, plus any
// console error, page error or request to something other than a local file.
//
//   node tests/browser/check_book.mjs ARTIFACT_DIR PAGE.html [PAGE.html ...]
//
// Screenshots go to ARTIFACT_DIR. Never downloads a browser: it runs /usr/bin/chromium (or $CHROMIUM).
import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";
import { basename, resolve } from "node:path";
import { pathToFileURL } from "node:url";

const LOCAL_SCHEMES = ["file:", "data:", "blob:", "about:"];
const OFFLINE_ARGS = [
  "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
  "--disable-sync", "--no-first-run", "--disable-default-apps", "--host-resolver-rules=MAP * ~NOTFOUND",
];

const isLocal = (url) => LOCAL_SCHEMES.some((scheme) => url.startsWith(scheme));

// What a control may change: every trace's data and the figure's titles.
function snapshot(figure) {
  const layout = figure.layout;
  const axisTitles = Object.keys(layout).filter((key) => /^[xy]axis\d*$/.test(key))
    .map((key) => (layout[key].title || {}).text);
  return JSON.stringify({
    data: figure.data.map((trace) => [trace.x, trace.y, trace.z, trace.source]),
    title: (layout.title || {}).text, axisTitles,
  });
}

async function controlsOf(page, figureIndex) {
  return page.evaluate((index) => {
    const figure = document.querySelectorAll(".js-plotly-plot")[index];
    const describe = (group, kind) => ({ kind, name: group.__data__.name, count: kind === "slider"
      ? group.__data__.steps.length : group.__data__.buttons.length });
    return [...figure.querySelectorAll("g.slider-group")].map((g) => describe(g, "slider"))
      .concat([...figure.querySelectorAll("g.updatemenu-header-group")].map((g) => describe(g, "menu")));
  }, figureIndex);
}

async function activeOf(page, figureIndex, control) {
  return page.evaluate(([index, name, kind]) => {
    const layout = document.querySelectorAll(".js-plotly-plot")[index]._fullLayout;
    const list = kind === "slider" ? layout.sliders : layout.updatemenus;
    return list.find((item) => item.name === name).active;
  }, [figureIndex, control.name, control.kind]);
}

async function figureState(page, figureIndex) {
  return page.evaluate(([index, source]) => {
    const take = new Function("figure", `return (${source})(figure);`);
    return take(document.querySelectorAll(".js-plotly-plot")[index]);
  }, [figureIndex, snapshot.toString()]);
}

async function box(page, figureIndex, selector, name) {
  const handle = await page.evaluateHandle(([index, css, wanted]) => {
    const figure = document.querySelectorAll(".js-plotly-plot")[index];
    return [...figure.querySelectorAll(css)].find((g) => g.__data__.name === wanted);
  }, [figureIndex, selector, name]);
  return handle.asElement();
}

async function moveSlider(page, figureIndex, control, active) {
  const group = await box(page, figureIndex, "g.slider-group", control.name);
  await group.scrollIntoViewIfNeeded();  // mouse coordinates only reach what is in the viewport
  const rail = await (await group.$("rect.slider-rail-touch-rect")).boundingBox();
  const grip = await (await group.$("rect.slider-grip-rect")).boundingBox();
  const target = active < control.count / 2 ? 0.85 : 0.1;  // drag well away from where it sits
  await page.mouse.move(grip.x + grip.width / 2, grip.y + grip.height / 2);
  await page.mouse.down();
  await page.mouse.move(rail.x + rail.width * target, grip.y + grip.height / 2, { steps: 8 });
  await page.mouse.up();
}

async function chooseMenuItem(page, figureIndex, control, active) {
  const header = await box(page, figureIndex, "g.updatemenu-header-group", control.name);
  await header.click();
  const wanted = (active + 1) % control.count;
  const button = await page.evaluateHandle(([index, target]) => {
    const figure = document.querySelectorAll(".js-plotly-plot")[index];
    return [...figure.querySelectorAll("g.updatemenu-dropdown-button-group g.updatemenu-dropdown-button")]
      .find((g) => g.__data__._index === target);
  }, [figureIndex, wanted]);
  await button.asElement().click();
}

async function exercise(page, figureIndex, pageName, artifacts) {
  const results = [];
  for (const control of await controlsOf(page, figureIndex)) {
    const before = await figureState(page, figureIndex);
    const activeBefore = await activeOf(page, figureIndex, control);
    if (control.kind === "slider") await moveSlider(page, figureIndex, control, activeBefore);
    else await chooseMenuItem(page, figureIndex, control, activeBefore);
    await page.waitForTimeout(400);
    const activeAfter = await activeOf(page, figureIndex, control);
    const changed = (await figureState(page, figureIndex)) !== before;
    const figure = page.locator(".js-plotly-plot").nth(figureIndex);
    const shot = resolve(artifacts, `${pageName}-figure${figureIndex}-${control.name}.png`);
    await figure.screenshot({ path: shot });
    results.push({ figure: figureIndex, ...control, activeBefore, activeAfter, moved: activeAfter !== activeBefore,
      changed, screenshot: shot });
  }
  return results;
}

async function checkPage(context, path, artifacts) {
  const page = await context.newPage();
  const report = { page: path, consoleErrors: [], pageErrors: [], nonFileRequests: [], controls: [] };
  page.on("console", (message) => { if (message.type() === "error") report.consoleErrors.push(message.text()); });
  page.on("pageerror", (error) => report.pageErrors.push(String(error)));
  page.on("request", (request) => { if (!isLocal(request.url())) report.nonFileRequests.push(request.url()); });
  await page.goto(pathToFileURL(path).href, { waitUntil: "load" });
  const figures = await page.locator(".js-plotly-plot").count();
  if (figures) {
    await page.waitForFunction(() => [...document.querySelectorAll(".js-plotly-plot")]
      .every((figure) => figure._fullLayout && figure.querySelector("svg.main-svg")), null, { timeout: 20000 });
  }
  const name = basename(path, ".html");
  for (let index = 0; index < figures; index += 1) {
    report.controls.push(...await exercise(page, index, name, artifacts));
  }
  report.figures = figures;
  await page.evaluate(() => window.scrollTo(0, 0));
  report.screenshot = resolve(artifacts, `${name}.png`);
  await page.screenshot({ path: report.screenshot, fullPage: true });
  await page.close();
  return report;
}

async function main() {
  const [artifacts, ...pages] = process.argv.slice(2);
  mkdirSync(artifacts, { recursive: true });
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium", headless: true, args: OFFLINE_ARGS,
  });
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, serviceWorkers: "block" });
  const blocked = [];
  await context.route("**/*", (route) => {
    const url = route.request().url();
    if (isLocal(url)) return route.continue();
    blocked.push(url);
    return route.abort("blockedbyclient");
  });
  const reports = [];
  try {
    for (const path of pages) reports.push(await checkPage(context, resolve(path), artifacts));
  } finally {
    await browser.close();
  }
  process.stdout.write(JSON.stringify({ chromium: browser.version(), blocked, pages: reports }, null, 1));
}

main().catch((error) => { console.error(error); process.exit(1); });

/**
 * Render a report.html in headless Chromium (Debian package `chromium`) and save a PNG to look at.
 *   npx tsx tools/screenshot_report.ts runs/replicate/corrected/report.html [out.png]
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const [html, png = "report.png"] = process.argv.slice(2);
if (!html || !existsSync(html)) throw new Error("usage: npx tsx tools/screenshot_report.ts REPORT.html [OUT.png]");
const chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].find(existsSync);
if (!chromium) throw new Error("no Chromium found: apt-get install -y chromium");
execFileSync(chromium, [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
  "--disable-component-update", "--disable-sync", `--user-data-dir=${mkdtempSync(join(tmpdir(), "chromium-"))}`,
  "--window-size=1200,2200", `--screenshot=${resolve(png)}`, `file://${resolve(html)}`,
], { stdio: "ignore" });
console.log(`wrote ${png}`);

// Vitest for the front end served from latentwidgets/widgets/static: logic in happy-dom ("unit"),
// drawing and keyboard use in a real headless Chromium ("browser", Playwright provider).
// Chromium comes from the system (Debian's package); set CHROMIUM_PATH to use another binary.
import { defineConfig } from "vitest/config";
import { playwright } from "@vitest/browser-playwright";

const chromium = process.env.CHROMIUM_PATH || "/usr/lib/chromium/chromium";

export default defineConfig({
  server: { fs: { allow: [".."] } },
  test: {
    projects: [
      {
        extends: true,
        test: { name: "unit", environment: "happy-dom", include: ["tests/unit/**/*.test.js"] },
      },
      {
        extends: true,
        test: {
          name: "browser",
          include: ["tests/browser/**/*.test.js"],
          testTimeout: 30000,
          browser: {
            enabled: true,
            headless: true,
            screenshotFailures: false,
            provider: playwright({
              launchOptions: {
                executablePath: chromium,
                args: [
                  "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run",
                ],
              },
            }),
            instances: [{ browser: "chromium" }],
          },
        },
      },
    ],
  },
});

package io.kvpilot.api;

import static org.assertj.core.api.Assertions.assertThat;

import io.kvpilot.serving.Scheduler;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.openqa.selenium.By;
import org.openqa.selenium.Dimension;
import org.openqa.selenium.OutputType;
import org.openqa.selenium.TakesScreenshot;
import org.openqa.selenium.WebDriver;
import org.openqa.selenium.WebElement;
import org.openqa.selenium.chrome.ChromeDriver;
import org.openqa.selenium.chrome.ChromeDriverService;
import org.openqa.selenium.chrome.ChromeOptions;
import org.openqa.selenium.support.ui.ExpectedConditions;
import org.openqa.selenium.support.ui.Select;
import org.openqa.selenium.support.ui.WebDriverWait;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.test.web.server.LocalServerPort;

/**
 * The KV inspector page in a real browser: Debian's headless Chromium driven by Selenium against the running service
 * and model, asserting on the DOM the page builds from {@code POST /admin/kv/inspect}. Saves the README's screenshot
 * (docs/images/kv-inspector.png). In CI ({@code CI=true}) a missing chromium fails the test; elsewhere it is skipped.
 */
@RealModelServingTest
class KvInspectorPageTest {

    private static final Path CHROMIUM = Path.of("/usr/bin/chromium");
    private static final Path CHROMEDRIVER = Path.of("/usr/bin/chromedriver");
    private static final Path SCREENSHOT = Path.of("docs/images/kv-inspector.png");

    @LocalServerPort
    int port;

    @Autowired
    Scheduler scheduler;

    @TempDir
    Path profile;

    private WebDriver browser;

    @BeforeEach
    void startBrowser() {
        boolean installed = Files.isExecutable(CHROMIUM) && Files.isExecutable(CHROMEDRIVER);
        if (!installed) {
            String why = "Chromium and its driver are needed (apt-get install -y chromium chromium-driver; .ci/run "
                    + "installs them): " + CHROMIUM + " or " + CHROMEDRIVER + " is missing";
            if ("true".equals(System.getenv("CI"))) {
                throw new AssertionError(why);
            }
            Assumptions.abort(why);
        }
        KvInspectorApiTest.awaitReady(scheduler);
        ChromeOptions options = new ChromeOptions();
        options.setBinary(CHROMIUM.toFile());
        // a closed network: everything Chromium would fetch in the background is switched off
        options.addArguments("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--user-data-dir=" + profile.toAbsolutePath(), "--window-size=1860,1400");
        ChromeDriverService service = new ChromeDriverService.Builder()
                .usingDriverExecutable(CHROMEDRIVER.toFile()).usingAnyFreePort().build();
        browser = new ChromeDriver(service, options);
        browser.manage().window().setSize(new Dimension(1860, 1400));
    }

    @AfterEach
    void quit() {
        if (browser != null) {
            browser.quit();
        }
    }

    private WebDriverWait waiting() {
        return new WebDriverWait(browser, Duration.ofSeconds(120));
    }

    private void useKey(String key) {
        browser.get("http://localhost:" + port + "/inspector");
        browser.findElement(By.id("admin-key")).sendKeys(key);
        browser.findElement(By.id("use-key")).click();
        assertThat(browser.findElement(By.id("key-state")).getText()).contains("Key set");
    }

    @Test
    void showsWhatEachSettingKeptItsBytesAnswersAndTheControllersCandidates() throws IOException {
        useKey("admin-key");
        browser.findElement(By.id("run")).click();
        waiting().until(ExpectedConditions.numberOfElementsToBe(By.cssSelector("#cards .card"), 5));

        List<WebElement> cards = browser.findElements(By.cssSelector("#cards .card"));
        assertThat(cards).extracting(c -> c.getAttribute("data-setting")).containsExactly("uncompressed",
                "snapkv · ratio 0.5 · 16-bit", "streaming_llm · ratio 0.75 · 16-bit", "keydiff · ratio 0.5 · 4-bit",
                "auto");
        assertThat(browser.findElement(By.id("error")).isDisplayed()).isFalse();

        // the prompt's text, token by token, highlighted by how many of the 16 layer-heads kept it
        WebElement baseline = cards.get(0);
        List<WebElement> baseTokens = baseline.findElements(By.cssSelector(".token"));
        assertThat(baseTokens).hasSizeGreaterThan(20);
        assertThat(baseTokens).allSatisfy(t -> assertThat(t.getAttribute("class")).contains("k4"));
        String promptText = String.join("", baseTokens.stream().map(WebElement::getText).toList());
        assertThat(promptText.replaceAll("\\s+", " ")).contains("shiny key next to the river");
        WebElement streaming = cards.get(2);
        List<WebElement> streamingTokens = streaming.findElements(By.cssSelector(".token"));
        assertThat(streamingTokens).hasSameSizeAs(baseTokens);
        assertThat(streamingTokens).anySatisfy(t -> assertThat(t.getAttribute("class")).contains("k0"));
        assertThat(streamingTokens.get(streamingTokens.size() - 1).getAttribute("data-kept")).isEqualTo("16");

        // bytes held against uncompressed, and every answer next to the uncompressed one
        for (WebElement card : cards) {
            assertThat(card.findElement(By.cssSelector(".bytes")).getText()).matches("(?s).*held of .* uncompressed.*");
            assertThat(card.findElement(By.cssSelector(".answer")).getText()).isNotBlank();
        }
        assertThat(cards.get(3).findElement(By.cssSelector(".bytes")).getText()).doesNotContain("(100.0 %)");
        assertThat(cards.get(1).findElements(By.cssSelector(".same, .differs"))).hasSize(1);

        // auto: the controller's candidates, the chosen one marked
        assertThat(cards.get(4).findElement(By.cssSelector(".decision")).getText()).contains("candidates scored");
        WebElement candidates = browser.findElement(By.cssSelector("#decisions table.candidates"));
        assertThat(candidates.findElements(By.cssSelector("tbody tr"))).hasSizeGreaterThan(1);
        List<WebElement> chosen = candidates.findElements(By.cssSelector("tr.chosen"));
        assertThat(chosen).hasSize(1);
        assertThat(chosen.get(0).getText()).contains("chosen");
        assertThat(cards.get(4).findElement(By.cssSelector(".applied")).getText())
                .startsWith("applied: " + chosen.get(0).findElements(By.tagName("td")).get(0).getText() + ",");

        // the README's screenshot: the results, side by side, from the highlight selector down
        ((org.openqa.selenium.JavascriptExecutor) browser).executeScript(
                "document.getElementById('status').scrollIntoView({block: 'start'})");
        Files.createDirectories(SCREENSHOT.getParent());
        Path shot = ((TakesScreenshot) browser).getScreenshotAs(OutputType.FILE).toPath();
        Files.copy(shot, SCREENSHOT, StandardCopyOption.REPLACE_EXISTING);
        assertThat(Files.size(SCREENSHOT)).isBetween(10_000L, 600_000L);

        // one layer and head on demand: each token is then kept or not
        new Select(browser.findElement(By.id("view"))).selectByVisibleText("layer 0 · KV head 0");
        List<WebElement> oneHead = browser.findElements(By.cssSelector("#cards .card")).get(2)
                .findElements(By.cssSelector(".token"));
        assertThat(oneHead).allSatisfy(t -> assertThat(t.getAttribute("class")).containsAnyOf("k0", "k4"));
        assertThat(oneHead).anySatisfy(t -> assertThat(t.getAttribute("class")).contains("k0"));
    }

    @Test
    void aBadKeyShowsTheError() {
        useKey("not-a-key");
        browser.findElement(By.id("run")).click();
        WebElement error = waiting().until(ExpectedConditions.visibilityOfElementLocated(By.id("error")));
        assertThat(error.getText()).contains("401").contains("Invalid API key");
        assertThat(browser.findElements(By.cssSelector("#cards .card"))).isEmpty();
    }
}

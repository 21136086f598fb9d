package io.kvpilot.api;

import static org.assertj.core.api.Assertions.assertThat;

import io.kvpilot.serving.Scheduler;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.test.web.server.LocalServerPort;
import reactor.core.Disposable;
import reactor.core.publisher.Flux;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/** Continuous batching on the real model: concurrent streams are decoded together and stay independent. */
@RealModelServingTest
class ConcurrentStreamsTest {

    private static final List<String> PROMPTS = List.of("The cat sat on", "Once upon a time, a little",
            "The king said to the", "In the morning the children", "Water is made of", "The old man walked",
            "She opened the door and", "A long way from home,");
    private static final Duration WAIT = Duration.ofSeconds(120);

    @LocalServerPort
    int port;

    @Autowired
    Scheduler scheduler;

    @Autowired
    JsonMapper json;

    @BeforeEach
    void ready() {
        TestWaits.until(scheduler::isReady);
    }

    private static String body(String prompt, boolean stream) {
        return "{\"prompt\": \"" + prompt + "\", \"max_tokens\": 24, \"temperature\": 0, \"ignore_eos\": true, "
                + "\"stream\": " + stream + "}";
    }

    private String alone(String prompt) {
        String response = WebClientSupport.complete(port, "/v1/completions", body(prompt, false), "test-key")
                .block(WAIT);
        return json.readTree(response).get("choices").get(0).get("text").stringValue();
    }

    /** The text of one SSE stream (the client splits events; each element is one chunk's JSON or [DONE]). */
    private Flux<String> streamedText(String prompt) {
        return WebClientSupport.stream(port, "/v1/completions", body(prompt, true), "test-key")
                .filter(data -> !data.equals("[DONE]"))
                .map(data -> {
                    JsonNode choices = json.readTree(data).get("choices");
                    return choices.isEmpty() ? "" : choices.get(0).get("text").stringValue();
                })
                .reduce("", String::concat).flux();
    }

    @Test
    void eightConcurrentGreedyStreamsEqualTheSameRequestsRunAlone() {
        List<String> expected = PROMPTS.stream().map(this::alone).toList();

        List<String> concurrent = Flux.fromIterable(PROMPTS).flatMapSequential(this::streamedText, 8)
                .collectList().block(WAIT);

        assertThat(concurrent).containsExactlyElementsOf(expected);
    }

    @Test
    void concurrentStreamsAreDecodedInTheSameBatch() {
        AtomicInteger maxRunning = new AtomicInteger();
        Disposable probe = Flux.interval(Duration.ofMillis(2))
                .subscribe(i -> maxRunning.accumulateAndGet(scheduler.runningCount(), Math::max));
        List<Flux<String>> streams = new ArrayList<>();
        PROMPTS.forEach(p -> streams.add(streamedText(p)));

        Flux.merge(streams).blockLast(WAIT);
        probe.dispose();

        assertThat(maxRunning.get()).isGreaterThanOrEqualTo(4);
    }
}

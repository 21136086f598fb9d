package io.kvpilot.api;

import static org.assertj.core.api.Assertions.assertThat;

import io.kvpilot.serving.Scheduler;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.test.web.server.LocalServerPort;
import reactor.core.Disposable;

/** On the real engine: a client that disconnects mid-stream gives its KV back (pool bytes return to before). */
@RealModelServingTest
class RealModelCancellationTest {

    @LocalServerPort
    int port;

    @Autowired
    Scheduler scheduler;

    @BeforeEach
    void ready() {
        TestWaits.until(scheduler::isReady);
    }

    @Test
    void disconnectMidStreamReturnsThePoolToItsBytesBefore() {
        long before = scheduler.kvBytesInUse();
        Disposable stream = WebClientSupport.stream(port, "/v1/completions",
                "{\"prompt\": \"Once upon a time\", \"max_tokens\": 1000, \"ignore_eos\": true, \"stream\": true}",
                "test-key").subscribe();
        TestWaits.until(() -> scheduler.kvBytesInUse() > before);

        stream.dispose();

        TestWaits.until(() -> scheduler.runningCount() == 0 && scheduler.kvBytesInUse() == before);
        assertThat(scheduler.reservedKvBytes()).isZero();
    }
}

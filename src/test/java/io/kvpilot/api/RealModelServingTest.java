package io.kvpilot.api;

import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.webtestclient.autoconfigure.AutoConfigureWebTestClient;

/**
 * The real service on a random port serving the real model ({@code kvpilot.model.path}, by default the embedded
 * {@code models/kvpilot-mini}); every class with this annotation shares one application context.
 */
@Target(ElementType.TYPE)
@Retention(RetentionPolicy.RUNTIME)
@SpringBootTest(webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT, properties = {
    "kvpilot.security.api-keys=test-key",
    "kvpilot.security.admin-keys=admin-key",
    "kvpilot.scheduler.default-max-tokens=24",
    "kvpilot.scheduler.idle-poll=5ms",
})
@AutoConfigureWebTestClient
@interface RealModelServingTest {}

package io.kvpilot;

import org.springframework.boot.SpringApplication;
import org.springframework.boot.autoconfigure.SpringBootApplication;
import org.springframework.boot.context.properties.ConfigurationPropertiesScan;

/** KVPilot: OpenAI-compatible LLM serving that compresses each request's KV cache. */
@SpringBootApplication
@ConfigurationPropertiesScan
public class KvPilotApplication {

    public static void main(String[] args) {
        // Nothing is downloaded at run time: libtorch comes from the pytorch-native-cpu jar.
        System.setProperty("ai.djl.offline", "true");
        SpringApplication.run(KvPilotApplication.class, args);
    }
}

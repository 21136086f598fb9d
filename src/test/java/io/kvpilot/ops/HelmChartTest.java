package io.kvpilot.ops;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.marcnuri.helm.Helm;
import com.marcnuri.helm.LintResult;
import com.marcnuri.helm.TemplateCommand;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.PodSpec;
import io.fabric8.kubernetes.api.model.Probe;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.autoscaling.v2.HorizontalPodAutoscaler;
import io.fabric8.kubernetes.api.model.autoscaling.v2.MetricSpec;
import io.fabric8.kubernetes.api.model.networking.v1.NetworkPolicy;
import io.fabric8.kubernetes.api.model.policy.v1.PodDisruptionBudget;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.function.UnaryOperator;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The Helm chart as the real Helm (helm-java's bundled library) lints and renders it, for the value sets in
 * {@code helm/kvpilot/ci/}; every rendered object is read strictly into fabric8's Kubernetes model.
 */
class HelmChartTest {

    static final Path CHART = Path.of("helm/kvpilot");
    private static final String DEFAULT_KEY = "ci-api-key-0123456789abcdef";

    @Test
    void lintsCleanInStrictMode() {
        LintResult result = new Helm(CHART).lint().strict().call();
        assertThat(result.isFailed()).as("helm lint --strict: %s", result.getMessages()).isFalse();
    }

    @ParameterizedTest
    @ValueSource(strings = {"default", "production", "keda"})
    void everyRenderedObjectParsesIntoTheKubernetesModel(String valueSet) {
        List<HasMetadata> objects = render(valueSet);
        Set<String> kinds = objects.stream().map(HasMetadata::getKind).collect(Collectors.toSet());
        assertThat(kinds).contains("Deployment", "Service", "ServiceAccount", "ConfigMap", "PodDisruptionBudget",
                "NetworkPolicy");
        switch (valueSet) {
            case "default" -> assertThat(kinds).contains("Secret")
                    .doesNotContain("HorizontalPodAutoscaler", "ScaledObject", "ServiceMonitor", "PrometheusRule");
            case "production" -> assertThat(kinds).contains("HorizontalPodAutoscaler", "ServiceMonitor",
                    "PrometheusRule").doesNotContain("Secret", "ScaledObject");
            case "keda" -> assertThat(kinds).contains("ScaledObject").doesNotContain("HorizontalPodAutoscaler");
            default -> throw new IllegalArgumentException(valueSet);
        }
    }

    @Test
    void strictParsingRejectsAFieldTheModelDoesNotKnow() {
        String misspelled = """
                apiVersion: apps/v1
                kind: Deployment
                metadata: {name: x}
                spec:
                  replicas: 1
                  template:
                    spec:
                      containers:
                        - name: x
                          image: x
                          readinesProbe: {httpGet: {path: /, port: 80}}
                """;
        assertThatThrownBy(() -> KubernetesObjects.parse(misspelled)).hasMessageContaining("readinesProbe");
    }

    @Test
    void withoutAnyApiKeyTheChartRefusesToRender() {
        assertThatThrownBy(() -> new Helm(CHART).template().withName("kvpilot").call())
                .hasMessageContaining("auth.existingSecret").hasMessageContaining("never deploys an open service");
    }

    @Test
    void securityKeysCannotBeSetThroughTheConfigMap() {
        assertThatThrownBy(() -> template("default", t -> t.set("config.kvpilot.security.api-keys", "k")))
                .satisfies(e -> System.out.println("refused: " + e.getMessage()))
                .hasMessageContaining("security");
    }

    @Test
    void probesUseTheActuatorHealthGroupsAndStartupCoversModelLoadAndWarmUp() {
        Container c = container(render("default"));
        assertThat(httpPath(c.getStartupProbe())).isEqualTo("/actuator/health/readiness");
        assertThat(httpPath(c.getLivenessProbe())).isEqualTo("/actuator/health/liveness");
        assertThat(httpPath(c.getReadinessProbe())).isEqualTo("/actuator/health/readiness");
        Probe startup = c.getStartupProbe();
        // readiness after load and warm-up takes ~9 s for the embedded model on 2 cores; larger checkpoints more
        assertThat(startup.getFailureThreshold() * startup.getPeriodSeconds()).isGreaterThanOrEqualTo(120);
        assertThat(c.getStartupProbe().getHttpGet().getPort().getStrVal()).isEqualTo("http");
        assertThat(c.getPorts()).anySatisfy(p -> {
            assertThat(p.getName()).isEqualTo("http");
            assertThat(p.getContainerPort()).isEqualTo(8080);
        });
    }

    @Test
    void apiKeysComeFromTheCreatedSecret() {
        List<HasMetadata> objects = render("default");
        Secret secret = only(objects, Secret.class);
        assertThat(new String(Base64.getDecoder().decode(secret.getData().get("api-keys")), StandardCharsets.UTF_8))
                .isEqualTo(DEFAULT_KEY);
        EnvVar apiKeys = env(container(objects), "KVPILOT_SECURITY_API_KEYS");
        assertThat(apiKeys.getValue()).isNull();
        assertThat(apiKeys.getValueFrom().getSecretKeyRef().getName()).isEqualTo(secret.getMetadata().getName());
        assertThat(apiKeys.getValueFrom().getSecretKeyRef().getKey()).isEqualTo("api-keys");
        assertThat(apiKeys.getValueFrom().getSecretKeyRef().getOptional()).isNotEqualTo(Boolean.TRUE);
    }

    @Test
    void apiKeysComeFromAnExistingSecretWhenNamed() {
        List<HasMetadata> objects = render("production");
        assertThat(objects).noneMatch(o -> o instanceof Secret);
        Container c = container(objects);
        assertThat(env(c, "KVPILOT_SECURITY_API_KEYS").getValueFrom().getSecretKeyRef().getName())
                .isEqualTo("kvpilot-keys");
        assertThat(env(c, "KVPILOT_SECURITY_ADMIN_KEYS").getValueFrom().getSecretKeyRef().getName())
                .isEqualTo("kvpilot-keys");
    }

    @ParameterizedTest
    @ValueSource(strings = {"default", "production", "keda"})
    void noConfigMapHoldsAKey(String valueSet) {
        List<HasMetadata> objects = render(valueSet);
        for (HasMetadata object : objects) {
            if (object instanceof ConfigMap map && map.getData() != null) {
                map.getData().values().forEach(text -> assertThat(text)
                        .doesNotContain(DEFAULT_KEY, "api-keys", "admin-keys", "security"));
            }
        }
        Container c = container(objects);
        assertThat(c.getEnv()).filteredOn(e -> e.getName().contains("KEYS"))
                .allSatisfy(e -> assertThat(e.getValueFrom().getSecretKeyRef()).isNotNull());
    }

    @Test
    void anyKvpilotKeyReachesTheApplicationYaml() throws IOException {
        List<HasMetadata> objects = template("default", t -> t
                .set("config.kvpilot.kv.auto-method", "snapkv")
                .set("config.kvpilot.scheduler.max-batched-tokens", "128"));
        JsonNode app = applicationYaml(objects);
        assertThat(app.at("/kvpilot/kv/auto-method").asText()).isEqualTo("snapkv");
        assertThat(app.at("/kvpilot/scheduler/max-batched-tokens").asInt()).isEqualTo(128);
        // defaults from values.yaml stay beside the override
        assertThat(app.at("/kvpilot/scheduler/max-running-sequences").asInt()).isEqualTo(16);
        EnvVar location = env(container(objects), "SPRING_CONFIG_ADDITIONAL_LOCATION");
        assertThat(location.getValue()).isEqualTo("file:/config/application.yaml");
        Deployment deployment = only(objects, Deployment.class);
        assertThat(deployment.getSpec().getTemplate().getSpec().getVolumes())
                .anySatisfy(v -> assertThat(v.getConfigMap().getName()).isEqualTo(only(objects, ConfigMap.class)
                        .getMetadata().getName()));
        assertThat(container(objects).getVolumeMounts()).anySatisfy(m -> {
            assertThat(m.getMountPath()).isEqualTo("/config");
            assertThat(m.getReadOnly()).isTrue();
        });
    }

    @Test
    void jvmHeapAndKvBudgetAreDerivedFromTheMemoryLimit() {
        // defaults: 4Gi limit, heap 25 %, KV 40 %
        Container c = container(render("default"));
        assertThat(env(c, "JDK_JAVA_OPTIONS").getValue()).contains("-Xmx1024m", "-Xms1024m",
                "-XX:+ExitOnOutOfMemoryError");
        assertThat(Long.parseLong(env(c, "KVPILOT_KV_BUDGET_BYTES").getValue())).isEqualTo(4096L * 1048576 * 40 / 100);
        // production: 16Gi limit, heap 20 %, KV 50 %
        Container p = container(render("production"));
        assertThat(env(p, "JDK_JAVA_OPTIONS").getValue()).contains("-Xmx3276m");
        assertThat(Long.parseLong(env(p, "KVPILOT_KV_BUDGET_BYTES").getValue()))
                .isEqualTo(16L * 1024 * 1048576 * 50 / 100);
        // the pod is small enough for an 8Gi limit given in Mi
        Container mi = container(template("default", t -> t.set("resources.limits.memory", "8192Mi")
                .set("resources.requests.memory", "8192Mi")));
        assertThat(env(mi, "JDK_JAVA_OPTIONS").getValue()).contains("-Xmx2048m");
    }

    @Test
    void heapPlusKvBudgetMayNotCrowdOutNativeMemory() {
        assertThatThrownBy(() -> template("default", t -> t.set("memory.heapPercent", "50")
                .set("memory.kvBudgetPercent", "40"))).hasMessageContaining("may not exceed 75");
    }

    @Test
    void terminationGraceCoversTheDrainAndBothDrainKeysFollowOneValue() throws IOException {
        List<HasMetadata> objects = render("production");
        PodSpec pod = only(objects, Deployment.class).getSpec().getTemplate().getSpec();
        // drainGraceSeconds 60 + preStop sleep 5 + margin 15
        assertThat(pod.getTerminationGracePeriodSeconds()).isEqualTo(80L);
        assertThat(pod.getContainers().get(0).getLifecycle().getPreStop().getSleep().getSeconds()).isEqualTo(5L);
        JsonNode app = applicationYaml(objects);
        assertThat(app.at("/kvpilot/scheduler/drain-grace").asText()).isEqualTo("60s");
        assertThat(app.at("/spring/lifecycle/timeout-per-shutdown-phase").asText()).isEqualTo("60s");
    }

    @Test
    void modelComesFromTheImageOrAVolume() {
        assertThat(env(container(render("default")), "KVPILOT_MODEL_PATH").getValue())
                .isEqualTo("/app/models/kvpilot-mini");
        List<HasMetadata> production = render("production");
        assertThat(env(container(production), "KVPILOT_MODEL_PATH").getValue())
                .isEqualTo("/models/llama-3.2-1b-instruct");
        PodSpec pod = only(production, Deployment.class).getSpec().getTemplate().getSpec();
        assertThat(pod.getVolumes()).filteredOn(v -> v.getPersistentVolumeClaim() != null).singleElement()
                .satisfies(v -> {
            assertThat(v.getPersistentVolumeClaim().getClaimName()).isEqualTo("models");
            assertThat(v.getPersistentVolumeClaim().getReadOnly()).isTrue();
        });
        assertThat(pod.getContainers().get(0).getVolumeMounts())
                .anySatisfy(m -> assertThat(m.getMountPath()).isEqualTo("/models"));
    }

    @Test
    void podRunsAsNonRootOnAReadOnlyRootWithAWritableTmp() {
        PodSpec pod = only(render("default"), Deployment.class).getSpec().getTemplate().getSpec();
        assertThat(pod.getSecurityContext().getRunAsNonRoot()).isTrue();
        assertThat(pod.getSecurityContext().getRunAsUser()).isEqualTo(10001L);
        assertThat(pod.getAutomountServiceAccountToken()).isFalse();
        Container c = pod.getContainers().get(0);
        assertThat(c.getSecurityContext().getReadOnlyRootFilesystem()).isTrue();
        assertThat(c.getSecurityContext().getAllowPrivilegeEscalation()).isFalse();
        assertThat(c.getVolumeMounts()).anySatisfy(m -> assertThat(m.getMountPath()).isEqualTo("/tmp"));
    }

    @Test
    void disruptionBudgetSpreadAndNetworkPolicySelectThePods() {
        List<HasMetadata> objects = render("default");
        Deployment deployment = only(objects, Deployment.class);
        Map<String, String> selector = deployment.getSpec().getSelector().getMatchLabels();
        assertThat(deployment.getSpec().getTemplate().getMetadata().getLabels()).containsAllEntriesOf(selector);
        assertThat(only(objects, PodDisruptionBudget.class).getSpec().getSelector().getMatchLabels())
                .isEqualTo(selector);
        assertThat(only(objects, NetworkPolicy.class).getSpec().getPodSelector().getMatchLabels())
                .isEqualTo(selector);
        assertThat(only(objects, Service.class).getSpec().getSelector()).isEqualTo(selector);
        assertThat(deployment.getSpec().getTemplate().getSpec().getTopologySpreadConstraints())
                .extracting(t -> t.getTopologyKey())
                .containsExactly("topology.kubernetes.io/zone", "kubernetes.io/hostname");
        // a rollout never takes serving capacity away: a new pod is ready before an old one drains
        assertThat(deployment.getSpec().getStrategy().getRollingUpdate().getMaxUnavailable().getIntVal()).isZero();
    }

    @Test
    void hpaScalesOnKvPilotsOwnMetricsAndTheAdapterServesEachOfThem() throws IOException {
        List<HasMetadata> objects = render("production");
        HorizontalPodAutoscaler hpa = only(objects, HorizontalPodAutoscaler.class);
        Deployment deployment = only(objects, Deployment.class);
        assertThat(hpa.getSpec().getScaleTargetRef().getName()).isEqualTo(deployment.getMetadata().getName());
        assertThat(deployment.getSpec().getReplicas()).as("replicas are the HPA's").isNull();
        assertThat(hpa.getSpec().getMinReplicas()).isEqualTo(2);
        assertThat(hpa.getSpec().getMaxReplicas()).isEqualTo(10);
        List<String> metrics = hpa.getSpec().getMetrics().stream().map(MetricSpec::getPods)
                .map(p -> p.getMetric().getName()).toList();
        assertThat(metrics).containsExactly("kvpilot_requests_waiting", "kvpilot_kv_cache_usage_ratio",
                "kvpilot_compression_debt_ratio");
        ConfigMap adapter = objects.stream().filter(o -> o instanceof ConfigMap
                        && o.getMetadata().getName().endsWith("-adapter-rules"))
                .map(ConfigMap.class::cast).findFirst().orElseThrow();
        JsonNode rules = KubernetesObjects.YAML.readTree(adapter.getData().get("config.yaml")).path("rules");
        List<String> served = Stream.iterate(0, i -> i < rules.size(), i -> i + 1)
                .map(i -> rules.get(i).at("/name/as").asText()).toList();
        assertThat(served).containsExactlyInAnyOrderElementsOf(metrics);
        assertThat(rules.toString()).contains("reason=\\\"pressure\\\"");
    }

    @Test
    void kedaScaledObjectQueriesTheSameSignals() {
        List<HasMetadata> objects = render("keda");
        GenericKubernetesResource scaled = objects.stream().filter(o -> o.getKind().equals("ScaledObject"))
                .map(GenericKubernetesResource.class::cast).findFirst().orElseThrow();
        Deployment deployment = only(objects, Deployment.class);
        assertThat(scaled.<String>get("spec", "scaleTargetRef", "name")).isEqualTo(deployment.getMetadata().getName());
        assertThat(scaled.<Integer>get("spec", "maxReplicaCount")).isEqualTo(6);
        List<Map<String, Object>> triggers = scaled.get("spec", "triggers");
        assertThat(triggers).hasSize(3).allSatisfy(t -> {
            assertThat(t.get("type")).isEqualTo("prometheus");
            @SuppressWarnings("unchecked")
            Map<String, Object> metadata = (Map<String, Object>) t.get("metadata");
            assertThat((String) metadata.get("serverAddress")).startsWith("http://prometheus-operated");
            assertThat((String) metadata.get("query")).contains("namespace=\"kvpilot-test\"");
            assertThat(Double.parseDouble((String) metadata.get("threshold"))).isPositive();
        });
        assertThat(triggers).extracting(t -> ((Map<?, ?>) t.get("metadata")).get("query").toString())
                .anySatisfy(q -> assertThat(q).contains("kvpilot_requests_waiting"))
                .anySatisfy(q -> assertThat(q).contains("kvpilot_kv_cache_usage_ratio"))
                .anySatisfy(q -> assertThat(q).contains("kvpilot_policy_decisions_total", "reason=\"pressure\""));
        assertThat(deployment.getSpec().getReplicas()).isNull();
    }

    @Test
    void serviceMonitorScrapesThePrometheusEndpointOfTheService() {
        List<HasMetadata> objects = render("production");
        GenericKubernetesResource monitor = custom(objects, "ServiceMonitor");
        assertThat(monitor.getMetadata().getLabels()).containsEntry("release", "kube-prometheus-stack");
        Map<String, String> selector = monitor.get("spec", "selector", "matchLabels");
        assertThat(only(objects, Service.class).getMetadata().getLabels()).containsAllEntriesOf(selector);
        List<Map<String, Object>> endpoints = monitor.get("spec", "endpoints");
        assertThat(endpoints).singleElement().satisfies(e -> {
            assertThat(e).containsEntry("port", "http").containsEntry("path", "/actuator/prometheus");
        });
    }

    @Test
    void prometheusRuleCarriesTheRulesFile() throws IOException {
        GenericKubernetesResource rule = custom(render("production"), "PrometheusRule");
        JsonNode rendered = KubernetesObjects.YAML.valueToTree(rule.getAdditionalProperties().get("spec"));
        JsonNode file = KubernetesObjects.YAML.readTree(CHART.resolve("rules/kvpilot-rules.yaml").toFile());
        assertThat(rendered).isEqualTo(file);
        assertThat(file.at("/groups/1/rules").size()).isGreaterThanOrEqualTo(10);
    }

    @Test
    void plainRulesFileAndDashboardsAreTheChartsOwnFiles() throws IOException {
        assertThat(Files.readString(Path.of("alerts/kvpilot-rules.yaml")))
                .as("alerts/kvpilot-rules.yaml must be a copy of helm/kvpilot/rules/kvpilot-rules.yaml")
                .isEqualTo(Files.readString(CHART.resolve("rules/kvpilot-rules.yaml")));
        Map<String, String> grafana = jsonFiles(Path.of("grafana"));
        assertThat(grafana).as("grafana/ must hold the same dashboards as helm/kvpilot/dashboards/")
                .isEqualTo(jsonFiles(CHART.resolve("dashboards")));
        assertThat(grafana.keySet()).hasSizeGreaterThanOrEqualTo(5);
    }

    @Test
    void dashboardsConfigMapCarriesEveryDashboardForTheGrafanaSidecar() throws IOException {
        ConfigMap dashboards = render("production").stream().filter(o -> o instanceof ConfigMap
                        && o.getMetadata().getName().endsWith("-dashboards"))
                .map(ConfigMap.class::cast).findFirst().orElseThrow();
        assertThat(dashboards.getMetadata().getLabels()).containsEntry("grafana_dashboard", "1");
        assertThat(dashboards.getData()).isEqualTo(jsonFiles(Path.of("grafana")));
    }

    // --- helpers

    static List<HasMetadata> render(String valueSet) {
        return template(valueSet, UnaryOperator.identity());
    }

    static List<HasMetadata> template(String valueSet, UnaryOperator<TemplateCommand> extra) {
        TemplateCommand command = new Helm(CHART).template().withName("kvpilot").withNamespace("kvpilot-test")
                .withValuesFile(CHART.resolve("ci/" + valueSet + "-values.yaml"));
        return KubernetesObjects.parseAll(extra.apply(command).call());
    }

    private static Map<String, String> jsonFiles(Path dir) throws IOException {
        try (Stream<Path> files = Files.list(dir)) {
            Map<String, String> byName = new TreeMap<>();
            for (Path f : files.filter(f -> f.toString().endsWith(".json")).toList()) {
                byName.put(f.getFileName().toString(), Files.readString(f));
            }
            return byName;
        }
    }

    private static JsonNode applicationYaml(List<HasMetadata> objects) throws IOException {
        ConfigMap config = objects.stream().filter(o -> o instanceof ConfigMap
                        && ((ConfigMap) o).getData().containsKey("application.yaml"))
                .map(ConfigMap.class::cast).findFirst().orElseThrow();
        return KubernetesObjects.YAML.readTree(config.getData().get("application.yaml"));
    }

    private static <T extends HasMetadata> T only(List<HasMetadata> objects, Class<T> type) {
        List<T> matching = objects.stream().filter(type::isInstance).map(type::cast)
                .filter(o -> !(o instanceof ConfigMap c) || c.getData().containsKey("application.yaml")).toList();
        assertThat(matching).as(type.getSimpleName()).hasSize(1);
        return matching.get(0);
    }

    private static GenericKubernetesResource custom(List<HasMetadata> objects, String kind) {
        return objects.stream().filter(o -> o.getKind().equals(kind)).map(GenericKubernetesResource.class::cast)
                .findFirst().orElseThrow(() -> new AssertionError("no " + kind + " rendered"));
    }

    private static Container container(List<HasMetadata> objects) {
        return only(objects, Deployment.class).getSpec().getTemplate().getSpec().getContainers().get(0);
    }

    private static EnvVar env(Container container, String name) {
        return container.getEnv().stream().filter(e -> e.getName().equals(name)).findFirst()
                .orElseThrow(() -> new AssertionError("no env " + name));
    }

    private static String httpPath(Probe probe) {
        return probe.getHttpGet().getPath();
    }
}

package io.enilb.attach;

import io.enilb.bus.Addresses;
import io.enilb.bus.LocalCodecs;
import io.enilb.bus.PodAttachment;
import io.enilb.bus.Readiness;
import io.enilb.cni.CniSocketSettings;
import io.enilb.cni.CniTestClient;
import io.enilb.cni.CniWire;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.junit5.VertxExtension;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static io.enilb.cni.CniTestClient.config;
import static io.enilb.cni.CniTestClient.request;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

@ExtendWith(VertxExtension.class)
class AttachVerticleTest {
    private static final String POD_A = "5ddb4f0c1e2a9b7d3c4e5f6a7b8c9d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f7a8";
    private static final String POD_B = "b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0";

    @TempDir
    Path tmp;
    Vertx vertx;
    RecordingPodDatapath datapath;
    /** What the daemon's step between registering and re-attaching saw: the calls so far. */
    final List<String> seenBeforeReattach = new java.util.concurrent.CopyOnWriteArrayList<>();
    CniTestClient client;
    Path socket;
    Path stateDir;
    Path nsA;
    Path nsB;
    final PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    final BlockingQueue<PodAttachment> attached = new LinkedBlockingQueue<>();
    final BlockingQueue<PodAttachment> detached = new LinkedBlockingQueue<>();
    final BlockingQueue<Readiness> readiness = new LinkedBlockingQueue<>();
    AttachVerticle verticle;
    String deployment;

    /** The extension's Vert.x, closed (and checked) after each test. */
    @BeforeEach
    void setUp(Vertx vertx) throws Exception {
        this.vertx = vertx;
        LocalCodecs.register(vertx.eventBus());
        vertx.eventBus().<PodAttachment>consumer(Addresses.POD_ATTACHED, m -> attached.add(m.body()));
        vertx.eventBus().<PodAttachment>consumer(Addresses.POD_DETACHED, m -> detached.add(m.body()));
        vertx.eventBus().<Readiness>consumer(Addresses.READINESS, m -> readiness.add(m.body()));
        datapath = new RecordingPodDatapath();
        socket = tmp.resolve("run/cni.sock");
        stateDir = tmp.resolve("state");
        // pod namespaces: links to nsfs files of ours that are not our network namespace (that one
        // is the host's and refused); the datapath is a recording, so the kind does not matter;
        // removing a link is a pod gone
        Files.createDirectories(tmp.resolve("netns"));
        nsA = Files.createSymbolicLink(tmp.resolve("netns/cni-a"), Path.of("/proc/self/ns/uts"));
        nsB = Files.createSymbolicLink(tmp.resolve("netns/cni-b"), Path.of("/proc/self/ns/ipc"));
        client = new CniTestClient(socket);
        deploy();
    }

    @AfterEach
    void tearDown() throws Exception {
        if (vertx.deploymentIDs().contains(deployment)) {
            vertx.undeploy(deployment).await(10, TimeUnit.SECONDS);
        }
        assertThat(socket).doesNotExist();
        assertThat(datapath.onEventLoop).as("datapath calls on an event loop").isEmpty();
    }

    private void deploy() throws Exception {
        verticle = new AttachVerticle(datapath, stateDir, CniSocketSettings.defaults(socket), registry,
                Duration.ofSeconds(30), () -> {
                    seenBeforeReattach.addAll(datapath.calls);
                    return Future.succeededFuture();
                }, Path.of("/proc"));
        deployment = get(vertx.deployVerticle(verticle));
    }

    private void undeploy() throws Exception {
        get(vertx.undeploy(deployment));
    }

    /** CNI requests attach counted for {@code command} with {@code outcome}, from its meters. */
    private double requests(String command, String outcome) {
        var counter = registry.find("enilb.cni.requests").tags("command", command, "outcome", outcome).counter();
        return counter == null ? 0 : counter.count();
    }

    private static <T> T get(Future<T> future) throws Exception {
        return future.toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }

    private JsonObject add(String containerId, Path netns, String ip) throws IOException {
        return client.send(request("ADD", containerId, netns.toString(), "eth0", config("1.0.0", ip)));
    }

    private JsonObject del(String containerId, Path netns) throws IOException {
        return client.send(request("DEL", containerId, netns == null ? "" : netns.toString(), "eth0",
                config("1.0.0", null)));
    }

    private JsonObject check(String containerId, Path netns) throws IOException {
        return client.send(request("CHECK", containerId, netns.toString(), "eth0", config("1.0.0", "198.18.0.5")));
    }

    private JsonObject gc(String... validContainerIds) throws IOException {
        JsonArray valid = new JsonArray();
        for (String id : validContainerIds) {
            valid.add(new JsonObject().put("containerID", id).put("ifname", "eth0"));
        }
        return client.send(request("GC", "", "", "",
                config("1.1.0", null).put("cni.dev/valid-attachments", valid)));
    }

    private JsonObject status() throws IOException {
        return client.send(request("STATUS", "", "", "", config("1.1.0", null)));
    }

    private static int code(JsonObject reply) {
        assertThat(reply.containsKey(CniWire.ERROR)).as("error reply: %s", reply).isTrue();
        return reply.getJsonObject(CniWire.ERROR).getInteger(CniWire.CODE);
    }

    private static void assertOk(JsonObject reply) {
        assertThat(reply.containsKey(CniWire.RESULT)).as("result reply: %s", reply).isTrue();
    }

    private TreeMap<String, String> stateFiles() throws IOException {
        TreeMap<String, String> files = new TreeMap<>();
        Path pods = stateDir.resolve("pods");
        if (Files.isDirectory(pods)) {
            try (Stream<Path> list = Files.list(pods)) {
                for (Path file : list.toList()) {
                    files.put(file.getFileName().toString(), Files.readString(file));
                }
            }
        }
        return files;
    }

    @Test
    void addAttachesRemembersAndPassesPrevResultThrough() throws Exception {
        JsonObject config = config("1.0.0", "198.18.0.5");
        JsonObject reply = add(POD_A, nsA, "198.18.0.5");

        assertOk(reply);
        JsonObject expected = config.getJsonObject("prevResult").copy();
        assertThat(reply.getJsonObject(CniWire.RESULT)).isEqualTo(expected);
        assertThat(datapath.calls).containsExactly("register " + nsA + " [198.18.0.5]", "attach " + nsA + " eth0");
        assertThat(stateFiles()).containsOnlyKeys(POD_A + "@eth0.json");
        PodAttachment published = attached.poll(5, TimeUnit.SECONDS);
        assertThat(published).isEqualTo(new PodAttachment(POD_A, "eth0", nsA.toString(), List.of("198.18.0.5")));
        assertThat(verticle.attachments()).containsExactly(published);
        assertThat(requests("ADD", "ok")).isEqualTo(1);
        assertThat(registry.get("enilb.cni.request.duration").tag("command", "ADD").timer().count()).isEqualTo(1);
        assertThat(registry.scrape()).contains("enilb_cni_requests_total{command=\"ADD\",outcome=\"ok\"} 1",
                "enilb_cni_request_duration_seconds_count{command=\"ADD\"} 1", "enilb_attached_pods 1");
    }

    @Test
    void addResultIsPrintedInTheConfigVersion() throws Exception {
        JsonObject config = config("1.1.0", "198.18.0.5");
        config.getJsonObject("prevResult").put("cniVersion", "1.0.0");

        JsonObject result = client.send(request("ADD", POD_A, nsA.toString(), "eth0", config))
                .getJsonObject(CniWire.RESULT);

        assertThat(result.getString("cniVersion")).isEqualTo("1.1.0");
        assertThat(result.fieldNames()).first().isEqualTo("cniVersion");
    }

    @Test
    void refusedAddsChangeNothing() throws Exception {
        Path notANamespace = Files.writeString(tmp.resolve("plain-file"), "");

        assertThat(code(client.send(request("ADD", POD_A, nsA.toString(), "eth0", config("1.0.0", null)))))
                .isEqualTo(7);
        assertThat(code(add(POD_A, nsA, "pod.example"))).as("no address in ips").isEqualTo(7);
        assertThat(code(add(POD_A, notANamespace, "198.18.0.5"))).isEqualTo(4);
        assertThat(code(add(POD_A, tmp.resolve("missing"), "198.18.0.5"))).isEqualTo(4);

        assertThat(datapath.calls).isEmpty();
        assertThat(stateFiles()).isEmpty();
        assertThat(requests("ADD", "invalid")).isEqualTo(4);
    }

    @Test
    void aRequestNamingTheHostsNamespaceIsRefusedAndChangesNothing() throws Exception {
        Path host = Path.of("/proc/self/ns/net");

        JsonObject error = add(POD_A, host, "198.18.0.5").getJsonObject(CniWire.ERROR);
        assertThat(error.getInteger(CniWire.CODE)).isEqualTo(4);
        assertThat(error.getString(CniWire.MSG)).contains("host's network namespace");
        assertThat(code(check(POD_A, host))).isEqualTo(4);
        assertOk(del(POD_A, host));

        assertThat(datapath.calls).isEmpty();
        assertThat(stateFiles()).isEmpty();
    }

    @Test
    void aProcPidNamespaceIsReadUnderTheProcRoot() throws Exception {
        undeploy();
        Path hostProc = tmp.resolve("host-proc");
        Files.createDirectories(hostProc.resolve("4242/ns"));
        Path seen = Files.createSymbolicLink(hostProc.resolve("4242/ns/net"), Path.of("/proc/self/ns/uts"));
        verticle = new AttachVerticle(datapath, stateDir, CniSocketSettings.defaults(socket), registry,
                Duration.ofSeconds(30), Future::succeededFuture, hostProc);
        deployment = get(vertx.deployVerticle(verticle));

        assertOk(add(POD_A, Path.of("/proc/4242/ns/net"), "198.18.0.5"));
        assertOk(del(POD_A, Path.of("/proc/4242/ns/net")));

        // the pod's addresses are registered under the namespace read through the proc root too
        assertThat(datapath.calls).filteredOn(c -> !c.startsWith("forget "))
                .containsExactly("register " + seen + " [198.18.0.5]", "attach " + seen + " eth0", "detach " + seen + " eth0");
    }

    @Test
    void datapathFailureIsACniErrorWithTheErrno() throws Exception {
        datapath.failNextAttachWith = 19; // ENODEV

        JsonObject error = add(POD_A, nsA, "198.18.0.5").getJsonObject(CniWire.ERROR);

        assertThat(error.getInteger(CniWire.CODE)).isEqualTo(999);
        assertThat(error.getString(CniWire.MSG)).contains("cannot attach to eth0").contains("ENODEV");
        assertThat(error.getString(CniWire.DETAILS)).isEqualTo("ENODEV");
        assertThat(stateFiles()).isEmpty();
        assertThat(verticle.attachments()).isEmpty();
        assertThat(requests("ADD", "failed")).isEqualTo(1);
    }

    @Test
    void checkSeesAllThreeHooksAndFailsWithoutThem() throws Exception {
        assertOk(add(POD_A, nsA, "198.18.0.5"));
        assertOk(check(POD_A, nsA));

        datapath.attached.put(nsA + " eth0", List.of(datapath.attached.get(nsA + " eth0").get(0)));
        JsonObject error = check(POD_A, nsA).getJsonObject(CniWire.ERROR);

        assertThat(error.getInteger(CniWire.CODE)).isEqualTo(999);
        assertThat(error.getString(CniWire.MSG)).isEqualTo("enilb programs missing: eth0 ingress, lo egress");
    }

    @Test
    void delDetachesForgetsAndIsIdempotent() throws Exception {
        assertOk(add(POD_A, nsA, "198.18.0.5"));

        assertOk(del(POD_A, nsA));
        assertOk(del(POD_A, nsA));

        long cookie = datapath.netnsCookie(nsA);
        assertThat(datapath.calls).containsExactly("register " + nsA + " [198.18.0.5]",
                "attach " + nsA + " eth0", "detach " + nsA + " eth0", "forget " + cookie + " [198.18.0.5]",
                "detach " + nsA + " eth0");
        assertThat(stateFiles()).isEmpty();
        assertThat(verticle.attachments()).isEmpty();
        assertThat(detached.poll(5, TimeUnit.SECONDS).containerId()).isEqualTo(POD_A);
        assertThat(requests("DEL", "ok")).isEqualTo(2);
    }

    @Test
    void delOfAGoneNamespaceOrWithoutOneSucceedsReleasingTheLinksByTheCookieOfItsAdd() throws Exception {
        assertOk(add(POD_A, nsA, "198.18.0.5"));
        long cookie = datapath.netnsCookie(nsA);
        Files.delete(nsA);

        assertOk(del(POD_A, nsA));
        assertOk(del(POD_B, null));

        assertThat(datapath.calls).containsExactly("register " + nsA + " [198.18.0.5]", "attach " + nsA + " eth0",
                "detachGone " + cookie, "forget " + cookie + " [198.18.0.5]");
        assertThat(stateFiles()).isEmpty();
    }

    @Test
    void gcForgetsWhatTheRuntimeNoLongerKnows() throws Exception {
        assertOk(add(POD_A, nsA, "198.18.0.5"));
        assertOk(add(POD_B, nsB, "198.18.0.6"));

        long cookieB = datapath.netnsCookie(nsB);
        assertOk(gc(POD_A));

        assertThat(datapath.calls).contains("detach " + nsB + " eth0").doesNotContain("detach " + nsA + " eth0")
                .doesNotContain("detachGone " + cookieB);
        assertThat(stateFiles()).containsOnlyKeys(POD_A + "@eth0.json");
        assertThat(verticle.attachments()).extracting(PodAttachment::containerId).containsExactly(POD_A);
        assertThat(code(client.send(request("GC", "", "", "", config("1.1.0", null))))).isEqualTo(7);
    }

    @Test
    void publishesReadinessOfTheSocket() throws Exception {
        Readiness ready = readiness.poll(5, TimeUnit.SECONDS);
        assertThat(ready).isEqualTo(Readiness.ok("cni-socket"));
        assertThat(verticle.readiness().ready()).isTrue();

        undeploy();

        assertThat(readiness.poll(5, TimeUnit.SECONDS).ready()).isFalse();
        assertThat(socket).doesNotExist();
    }

    @Test
    void restartReattachesLivePodsAndForgetsGoneOnes() throws Exception {
        assertOk(add(POD_A, nsA, "198.18.0.5"));
        assertOk(add(POD_B, nsB, "198.18.0.6"));
        undeploy();
        Files.delete(nsB);
        datapath.calls.clear();

        deploy();

        assertThat(datapath.calls).containsExactlyInAnyOrder("detachGone " + datapath.netnsCookie(nsB),
                "forget " + datapath.netnsCookie(nsB) + " [198.18.0.6]", "register " + nsA + " [198.18.0.5]",
                "attach " + nsA + " eth0");
        assertThat(datapath.releaseDefunctCalls).as("once at each start").hasValue(2);
        assertThat(datapath.calls).last().isEqualTo("attach " + nsA + " eth0");
        assertThat(verticle.attachments()).extracting(PodAttachment::containerId).containsExactly(POD_A);
        assertThat(stateFiles()).containsOnlyKeys(POD_A + "@eth0.json");
        assertOk(check(POD_A, nsA));
    }

    @Test
    void requestsForOneContainerRunOneAfterAnotherOthersInParallel() throws Exception {
        CountDownLatch gate = new CountDownLatch(1);
        datapath.attachGate = gate;
        CompletableFuture<JsonObject> slowAdd = CompletableFuture.supplyAsync(() -> call(() -> add(POD_A, nsA,
                "198.18.0.5")));
        await().atMost(Duration.ofSeconds(5)).until(() -> datapath.calls.contains("attach " + nsA + " eth0"));

        CompletableFuture<JsonObject> del = CompletableFuture.supplyAsync(() -> call(() -> del(POD_A, nsA)));
        await().atMost(Duration.ofSeconds(5)).until(() -> verticle.inFlight() == 2); // the DEL waits in line
        datapath.attachGate = null;
        assertOk(add(POD_B, nsB, "198.18.0.6")); // not held up by POD_A
        assertThat(del).isNotDone();
        assertThat(datapath.calls).doesNotContain("detach " + nsA + " eth0");

        gate.countDown();
        assertOk(slowAdd.get(5, TimeUnit.SECONDS));
        assertOk(del.get(5, TimeUnit.SECONDS));
        assertThat(datapath.calls.indexOf("detach " + nsA + " eth0"))
                .isGreaterThan(datapath.calls.indexOf("attach " + nsA + " eth0"));
        assertThat(stateFiles()).containsOnlyKeys(POD_B + "@eth0.json");
    }

    @Test
    void addRegistersThePodsAddressesUnderItsNamespaceCookieAndDelAndGcForgetThemEvenWhenTheNamespaceIsGone()
            throws Exception {
        assertOk(add(POD_A, nsA, "198.18.0.5"));
        assertOk(add(POD_B, nsB, "198.18.0.6"));
        long cookieA = datapath.netnsCookie(nsA);
        long cookieB = datapath.netnsCookie(nsB);
        assertThat(datapath.registered).containsExactlyInAnyOrder(cookieA + " 198.18.0.5", cookieB + " 198.18.0.6");
        assertThat(datapath.calls.indexOf("register " + nsA + " [198.18.0.5]"))
                .as("registered before the programs are attached")
                .isLessThan(datapath.calls.indexOf("attach " + nsA + " eth0"));

        Files.delete(nsA);
        Files.delete(nsB);
        assertOk(del(POD_A, nsA));
        assertOk(gc());

        assertThat(datapath.registered).isEmpty();
        assertThat(datapath.calls).as("the links of both, by cookie").contains("detachGone " + cookieA,
                "detachGone " + cookieB);
    }

    @Test
    void ipv6AndDualStackPodsRegisterEachFamilyRecordItAndForgetItAfterARestart() throws Exception {
        JsonObject dual = config("1.0.0", null).put("prevResult", new JsonObject().put("cniVersion", "1.0.0")
                .put("interfaces", new JsonArray().add(new JsonObject().put("name", "eth0")))
                .put("ips", new JsonArray()
                        .add(new JsonObject().put("address", "198.18.0.5/16").put("interface", 0))
                        .add(new JsonObject().put("address", "2001:DB8:18:0::5/64").put("interface", 0))
                        .add(new JsonObject().put("address", "fe80::1%eth0/64").put("interface", 0))));
        assertOk(client.send(request("ADD", POD_A, nsA.toString(), "eth0", dual)));
        assertOk(add(POD_B, nsB, "2001:db8:18::6"));
        long cookieA = datapath.netnsCookie(nsA);
        long cookieB = datapath.netnsCookie(nsB);

        assertThat(datapath.calls).contains("register " + nsA + " [198.18.0.5] [2001:db8:18::5]",
                "register " + nsB + " [] [2001:db8:18::6]");
        assertThat(datapath.registered).as("a zoned link-local address is no pod address").containsExactlyInAnyOrder(
                cookieA + " 198.18.0.5", cookieA + " 2001:db8:18::5", cookieB + " 2001:db8:18::6");
        assertThat(verticle.attachments()).extracting(PodAttachment::ips)
                .containsExactlyInAnyOrder(List.of("198.18.0.5", "2001:db8:18::5"), List.of("2001:db8:18::6"));

        undeploy();
        Files.delete(nsB);
        deploy();

        assertThat(datapath.registered).as("the gone IPv6 pod forgotten from its stored record")
                .containsExactlyInAnyOrder(cookieA + " 198.18.0.5", cookieA + " 2001:db8:18::5");
        assertOk(del(POD_A, nsA));
        assertThat(datapath.registered).isEmpty();
    }

    @Test
    void anAddAgainReplacesTheAddressesTheEarlierAddRegistered() throws Exception {
        assertOk(add(POD_A, nsA, "198.18.0.5"));
        assertOk(add(POD_A, nsA, "198.18.0.7"));

        assertThat(datapath.registered).containsExactly(datapath.netnsCookie(nsA) + " 198.18.0.7");

        assertOk(add(POD_A, nsA, "2001:db8:18::7"));
        assertOk(add(POD_A, nsA, "2001:db8:18::8"));
        assertThat(datapath.registered).as("IPv6 too").containsExactly(datapath.netnsCookie(nsA) + " 2001:db8:18::8");
    }

    @Test
    void attachedPodsMoveToLinksOnceTheSocketIsQuietInTheOrderTheyCame() throws Exception {
        assertOk(add(POD_A, nsA, "198.18.0.5"));
        assertOk(add(POD_B, nsB, "198.18.0.6"));
        long lastAnswered = System.nanoTime();
        assertThat(registry.scrape()).contains("enilb_attached_pods_waiting_move 2");

        await().atMost(Duration.ofSeconds(5)).until(() -> datapath.promoted.size() == 2);
        await().atMost(Duration.ofSeconds(5)).until(() -> registry.scrape().contains("enilb_attached_pods_waiting_move 0"));
        assertThat(datapath.promoted).containsExactly("promote " + nsA + " eth0", "promote " + nsB + " eth0");
        assertThat(datapath.promotedAt.get(0) - lastAnswered).as("no move while ADDs come")
                .isGreaterThan(AttachVerticle.PROMOTE_WHEN_QUIET.toNanos() * 2 / 3);
    }

    @Test
    void aPodDeletedBeforeItsMoveIsNotMovedAndADelDuringAMoveWaitsForIt() throws Exception {
        assertOk(add(POD_A, nsA, "198.18.0.5"));
        assertOk(del(POD_A, nsA));
        CountDownLatch gate = new CountDownLatch(1);
        datapath.promoteGate = gate;
        assertOk(add(POD_B, nsB, "198.18.0.6"));
        await().atMost(Duration.ofSeconds(5)).until(() -> !datapath.promoted.isEmpty());

        CompletableFuture<JsonObject> del = CompletableFuture.supplyAsync(() -> call(() -> del(POD_B, nsB)));
        await().atMost(Duration.ofSeconds(5)).until(() -> verticle.inFlight() == 1);
        assertThat(datapath.calls).doesNotContain("detach " + nsB + " eth0");
        gate.countDown();

        assertOk(del.get(5, TimeUnit.SECONDS));
        assertThat(datapath.calls).contains("detach " + nsB + " eth0");
        assertThat(datapath.promoted).containsExactly("promote " + nsB + " eth0");
    }

    @Test
    void aFailedAddMovesNothingAndARestartMovesTheRememberedPods() throws Exception {
        datapath.failNextAttachWith = 19; // ENODEV
        assertThat(code(add(POD_A, nsA, "198.18.0.5"))).isEqualTo(999);
        assertOk(add(POD_B, nsB, "198.18.0.6"));
        await().atMost(Duration.ofSeconds(5)).until(() -> datapath.promoted.size() == 1);
        assertThat(datapath.promoted).containsExactly("promote " + nsB + " eth0");

        undeploy();
        deploy();

        await().atMost(Duration.ofSeconds(5)).until(() -> datapath.promoted.size() == 2);
        assertThat(datapath.promoted).last().isEqualTo("promote " + nsB + " eth0");
    }

    @Test
    void aFailedAttachLeavesNoRegisteredAddress() throws Exception {
        datapath.failNextAttachWith = 19; // ENODEV

        assertThat(code(add(POD_A, nsA, "198.18.0.5"))).isEqualTo(999);

        assertThat(datapath.registered).isEmpty();
        assertThat(stateFiles()).isEmpty();
    }

    @Test
    void restartRegistersTheRememberedPodsBeforeTheDaemonsStepAndReattachesAfterIt() throws Exception {
        assertOk(add(POD_A, nsA, "198.18.0.5"));
        assertOk(add(POD_B, nsB, "198.18.0.6"));
        undeploy();
        Files.delete(nsB);
        datapath.calls.clear();
        seenBeforeReattach.clear();

        deploy();

        assertThat(seenBeforeReattach).as("the gone pod forgotten, the live one registered, no program replaced yet")
                .containsExactlyInAnyOrder("detachGone " + datapath.netnsCookie(nsB),
                        "forget " + datapath.netnsCookie(nsB) + " [198.18.0.6]", "register " + nsA + " [198.18.0.5]");
        assertThat(datapath.calls).endsWith("attach " + nsA + " eth0");
        assertThat(datapath.registered).containsExactly(datapath.netnsCookie(nsA) + " 198.18.0.5");
        assertThat(stateFiles().get(POD_A + "@eth0.json")).contains("\"netnsCookie\" : " + datapath.netnsCookie(nsA));
    }

    @Test
    void aThousandMalformedMessagesChangeNothing() throws Exception {
        assertOk(add(POD_A, nsA, "198.18.0.5"));
        TreeMap<String, String> before = stateFiles();
        datapath.calls.clear();
        Random random = new Random(42);
        byte[] valid = request("ADD", POD_B, nsB.toString(), "eth0", config("1.0.0", "198.18.0.6")).encode()
                .getBytes(StandardCharsets.UTF_8);

        for (int i = 0; i < 1000; i++) {
            byte[] message = switch (i % 4) {
                case 0 -> randomBytes(random, 1 + random.nextInt(300));
                case 1 -> java.util.Arrays.copyOf(valid, 1 + random.nextInt(valid.length - 1)); // truncated
                case 2 -> wrongTypes(random).encode().getBytes(StandardCharsets.UTF_8);
                default -> new JsonArray().add(random.nextInt()).add("ADD").encode().getBytes(StandardCharsets.UTF_8);
            };
            String reply = client.sendRaw(message);
            assertThat(new JsonObject(reply).containsKey(CniWire.ERROR)).as("reply to message %d", i).isTrue();
        }

        assertThat(datapath.calls).isEmpty();
        assertThat(stateFiles()).isEqualTo(before);
        assertThat(registry.get("enilb.cni.malformed.requests").functionCounter().count()).isEqualTo(1000);
        assertOk(status());
        assertOk(check(POD_A, nsA));
    }

    @Test
    void refusesPeersOutsideTheAllowedUids() throws Exception {
        undeploy();
        verticle = new AttachVerticle(datapath, stateDir,
                CniSocketSettings.defaults(socket).withAllowedUids(Set.of(4242)), registry, Duration.ofSeconds(30));
        deployment = get(vertx.deployVerticle(verticle));

        JsonObject error = add(POD_A, nsA, "198.18.0.5").getJsonObject(CniWire.ERROR);

        assertThat(error.getString(CniWire.MSG)).contains("may not use the enilb CNI socket");
        assertThat(datapath.calls).isEmpty();
        assertThat(stateFiles()).isEmpty();
        assertThat(registry.get("enilb.cni.refused.peers").functionCounter().count()).isEqualTo(1);
    }

    private static byte[] randomBytes(Random random, int length) {
        byte[] bytes = new byte[length];
        random.nextBytes(bytes);
        return bytes;
    }

    /** A request whose fields have the wrong JSON types. */
    private static JsonObject wrongTypes(Random random) {
        JsonObject request = new JsonObject();
        String[] fields = {CniWire.COMMAND, CniWire.CONTAINER_ID, CniWire.NETNS, CniWire.IF_NAME, CniWire.CONFIG};
        for (String field : fields) {
            switch (random.nextInt(4)) {
                case 0 -> request.put(field, random.nextInt());
                case 1 -> request.put(field, new JsonArray().add("x"));
                case 2 -> request.put(field, random.nextBoolean());
                default -> request.put(field, (String) null);
            }
        }
        return request;
    }

    private interface IoCall {
        JsonObject run() throws IOException;
    }

    private static JsonObject call(IoCall call) {
        try {
            return call.run();
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }
}

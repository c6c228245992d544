package io.enilb.ctl;

import static org.assertj.core.api.Assertions.assertThat;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * {@code enilbctl cni install|uninstall} on the configurations the common CNIs write (AWS VPC
 * CNI, Cilium chained to it, Calico, flannel, macvlan with host-local, a single-plugin .conf).
 */
class CniInstallTest {
    private static final String OTHER = "99-other.conflist";

    @TempDir
    Path tmp;
    Path home;
    Path bin;
    Path net;
    final ByteArrayOutputStream out = new ByteArrayOutputStream();
    final ByteArrayOutputStream err = new ByteArrayOutputStream();

    @BeforeEach
    void setUp() throws IOException {
        home = tmp.resolve("dist");
        Files.createDirectories(home.resolve("bin/enilb-jre/bin"));
        Files.writeString(home.resolve("bin/enilb-cni"), "#!/bin/sh\n# the plugin\n");
        Files.writeString(home.resolve("bin/enilb-jre/bin/java"), "runtime v1");
        Files.writeString(home.resolve("bin/enilb-jre/release"), "JAVA_VERSION=\"17\"");
        bin = tmp.resolve("opt/cni/bin");
        net = tmp.resolve("etc/cni/net.d");
        Files.createDirectories(net);
        // another plugin's file that sorts later: never touched
        Files.writeString(net.resolve(OTHER), "{\"cniVersion\":\"1.0.0\",\"name\":\"x\",\"plugins\":[{\"type\":\"bridge\"}]}");
    }

    private int ctl(String... args) {
        out.reset();
        err.reset();
        return new Enilbctl(new PrintStream(out, true, StandardCharsets.UTF_8),
                new PrintStream(err, true, StandardCharsets.UTF_8), home).run(args, Map.of());
    }

    private int install() {
        return ctl("cni", "install", "--bin-dir", bin.toString(), "--net-dir", net.toString());
    }

    private int uninstall() {
        return ctl("cni", "uninstall", "--bin-dir", bin.toString(), "--net-dir", net.toString());
    }

    private String example(String name) throws IOException {
        try (InputStream in = getClass().getResourceAsStream("/conflists/" + name)) {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
    }

    /** Every file under the directory (hidden ones too) with its content; symlinks as "-> target". */
    private static TreeMap<String, String> tree(Path dir) throws IOException {
        TreeMap<String, String> files = new TreeMap<>();
        if (!Files.exists(dir)) {
            return files;
        }
        try (Stream<Path> walk = Files.walk(dir)) {
            for (Path f : walk.toList()) {
                String rel = dir.relativize(f).toString();
                if (Files.isSymbolicLink(f)) {
                    files.put(rel, "-> " + Files.readSymbolicLink(f));
                } else if (Files.isRegularFile(f)) {
                    files.put(rel, Files.readString(f));
                }
            }
        }
        return files;
    }

    @ParameterizedTest
    @ValueSource(strings = {"10-aws.conflist", "05-cilium.conflist", "10-calico.conflist", "10-flannel.conflist",
            "10-macvlan.conflist"})
    void chainsEnilbRightAfterTheFirstPluginKeepingEverythingElse(String name) throws IOException {
        String original = example(name);
        Files.writeString(net.resolve(name), original);
        TreeMap<String, String> before = tree(net);

        assertThat(install()).as(err.toString()).isZero();

        JsonObject was = new JsonObject(original);
        JsonObject now = new JsonObject(Files.readString(net.resolve(name)));
        JsonArray plugins = now.getJsonArray("plugins");
        assertThat(plugins.getJsonObject(1)).isEqualTo(new JsonObject().put("type", "enilb"));
        List<Object> others = new ArrayList<>(plugins.getList());
        others.remove(1);
        assertThat(new JsonArray(others)).isEqualTo(was.getJsonArray("plugins"));
        assertThat(now.fieldNames()).containsExactlyElementsOf(was.fieldNames());
        for (String key : was.fieldNames()) {
            if (!key.equals("plugins")) {
                assertThat(now.getValue(key)).as(key).isEqualTo(was.getValue(key));
            }
        }
        assertThat(Files.readString(net.resolve("." + name + ".before-enilb"))).isEqualTo(original);
        assertThat(Files.readString(net.resolve(OTHER))).isEqualTo(before.get(OTHER));
        assertThat(Files.readString(bin.resolve("enilb"))).isEqualTo(Files.readString(home.resolve("bin/enilb-cni")));
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(bin.resolve("enilb")))).isEqualTo("rwxr-xr-x");
        assertThat(Files.readString(bin.resolve("enilb-jre/bin/java"))).isEqualTo("runtime v1");

        TreeMap<String, String> installed = tree(tmp.resolve("etc"));
        TreeMap<String, String> installedBin = tree(bin);
        assertThat(install()).isZero();
        assertThat(out.toString()).contains("already chains enilb");
        assertThat(tree(tmp.resolve("etc"))).as("install twice").isEqualTo(installed);
        assertThat(tree(bin)).isEqualTo(installedBin);

        assertThat(uninstall()).as(err.toString()).isZero();
        assertThat(tree(net)).as("uninstall restores the original byte for byte").isEqualTo(before);
        assertThat(tree(bin)).isEmpty();
    }

    @Test
    void aSinglePluginConfBecomesAConflistOfTheSameNameAndComesBack() throws IOException {
        String original = example("10-bridge.conf");
        Files.writeString(net.resolve("10-bridge.conf"), original);
        TreeMap<String, String> before = tree(net);

        assertThat(install()).as(err.toString()).isZero();

        assertThat(net.resolve("10-bridge.conf")).doesNotExist();
        JsonObject list = new JsonObject(Files.readString(net.resolve("10-bridge.conflist")));
        JsonObject plugin = new JsonObject(original);
        plugin.remove("cniVersion");
        plugin.remove("name");
        assertThat(list).isEqualTo(new JsonObject().put("cniVersion", "0.4.0").put("name", "mynet")
                .put("plugins", new JsonArray().add(plugin).add(new JsonObject().put("type", "enilb"))));
        assertThat(CniInstall.firstConfig(net)).contains(net.resolve("10-bridge.conflist"));

        assertThat(install()).isZero();
        assertThat(uninstall()).as(err.toString()).isZero();
        assertThat(tree(net)).isEqualTo(before);
    }

    @Test
    void aSocketOtherThanTheDefaultIsWrittenIntoTheChain() throws IOException {
        Files.writeString(net.resolve("10-flannel.conflist"), example("10-flannel.conflist"));

        assertThat(ctl("cni", "install", "--bin-dir", bin.toString(), "--net-dir", net.toString(),
                "--socket", "/run/enilb-2/cni.sock")).isZero();

        JsonObject enilb = new JsonObject(Files.readString(net.resolve("10-flannel.conflist")))
                .getJsonArray("plugins").getJsonObject(1);
        assertThat(enilb).isEqualTo(new JsonObject().put("type", "enilb").put("socket", "/run/enilb-2/cni.sock"));
        assertThat(uninstall()).isZero();
        assertThat(Files.readString(net.resolve("10-flannel.conflist"))).isEqualTo(example("10-flannel.conflist"));
    }

    @Test
    void uninstallAfterSomeoneElseEditedTheFileTakesOnlyEnilbOut() throws IOException {
        Files.writeString(net.resolve("10-calico.conflist"), example("10-calico.conflist"));
        assertThat(install()).isZero();
        JsonObject edited = new JsonObject(Files.readString(net.resolve("10-calico.conflist")));
        edited.getJsonArray("plugins").add(new JsonObject().put("type", "tuning"));
        Files.writeString(net.resolve("10-calico.conflist"), edited.encode());

        assertThat(uninstall()).isZero();

        JsonObject expected = new JsonObject(example("10-calico.conflist"));
        expected.getJsonArray("plugins").add(new JsonObject().put("type", "tuning"));
        assertThat(new JsonObject(Files.readString(net.resolve("10-calico.conflist")))).isEqualTo(expected);
        assertThat(net.resolve(".10-calico.conflist.before-enilb")).doesNotExist();
    }

    @Test
    void aNewRuntimeReplacesTheOldOneWithOneRename() throws IOException {
        Files.writeString(net.resolve("10-flannel.conflist"), example("10-flannel.conflist"));
        assertThat(install()).isZero();
        Path first = bin.resolve(Files.readSymbolicLink(bin.resolve("enilb-jre")));

        Files.writeString(home.resolve("bin/enilb-jre/bin/java"), "runtime v2");
        assertThat(install()).isZero();

        assertThat(Files.readString(bin.resolve("enilb-jre/bin/java"))).isEqualTo("runtime v2");
        assertThat(first).doesNotExist();
        try (Stream<Path> list = Files.list(bin)) {
            assertThat(list.map(p -> p.getFileName().toString())).hasSize(3); // enilb, enilb-jre, .enilb-jre-HASH
        }
    }

    @Test
    void withoutAConfigurationOrWithBrokenJsonNothingChanges() throws IOException {
        Files.delete(net.resolve(OTHER));
        assertThat(install()).isEqualTo(1);
        assertThat(err.toString()).contains("no CNI configuration in " + net);
        assertThat(bin).doesNotExist();

        Files.writeString(net.resolve("10-broken.conflist"), "{\"plugins\": [");
        assertThat(install()).isEqualTo(1);
        assertThat(err.toString()).contains("10-broken.conflist is not a JSON object").contains("nothing changed");
        assertThat(tree(net)).containsOnlyKeys("10-broken.conflist");
        assertThat(bin).doesNotExist();

        Files.writeString(net.resolve("10-broken.conflist"), "{\"name\": \"x\", \"plugins\": []}");
        assertThat(install()).isEqualTo(1);
        assertThat(err.toString()).contains("has no type");
        assertThat(bin).doesNotExist();
    }

    @Test
    void badArgumentsAreUsageErrors() {
        assertThat(ctl("cni")).isEqualTo(2);
        assertThat(ctl("cni", "reinstall")).isEqualTo(2);
        assertThat(ctl("cni", "install", "--bin-dir")).isEqualTo(2);
        assertThat(err.toString()).contains("--bin-dir needs a value");
    }

    @Test
    void aRuntimeLinkPointingElsewhereIsNeverFollowedForDeletion() throws IOException {
        Files.writeString(net.resolve("10-flannel.conflist"), example("10-flannel.conflist"));
        Path precious = Files.createDirectories(tmp.resolve("precious"));
        Files.writeString(precious.resolve("file"), "keep");
        Files.createDirectories(bin);
        Files.createSymbolicLink(bin.resolve("enilb-jre"), precious);

        assertThat(install()).as(err.toString()).isZero();
        assertThat(uninstall()).isZero();

        assertThat(precious.resolve("file")).hasContent("keep");
    }
}

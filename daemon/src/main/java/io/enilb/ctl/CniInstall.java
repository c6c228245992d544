package io.enilb.ctl;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.List;
import java.util.Optional;
import java.util.stream.Stream;

/**
 * {@code enilbctl cni install|uninstall}: puts the plugin on a node and chains it into the node's
 * CNI configuration, or takes both off again. What the DaemonSet's init container runs.
 *
 * <ul>
 *   <li>The plugin: {@code BIN/enilb} (the launcher with the plugin's jar) and {@code BIN/enilb-jre}
 *       (its runtime), a symlink to a directory named after the runtime's content hash, so that a
 *       new runtime replaces the old one with one rename while a running ADD keeps its files.</li>
 *   <li>The configuration: the lexically first {@code .conflist}, {@code .conf} or {@code .json} of
 *       {@code NET} (the one the runtime uses) gets {@code {"type":"enilb"}} after its first plugin
 *       ({@link CniChain}); the original is kept as {@code .NAME.before-enilb}, a name the runtime
 *       ignores, and comes back byte for byte on uninstall if nobody changed the file since. A
 *       single-plugin {@code .conf} becomes a {@code .conflist} of the same name.</li>
 * </ul>
 * Files are written to a temporary name and renamed, so the runtime never reads half a file.
 * Running install twice changes nothing the second time.
 */
final class CniInstall {
    static final String PLUGIN = "enilb";
    static final String RUNTIME = "enilb-jre";
    static final String BACKUP_SUFFIX = ".before-enilb";
    private static final List<String> CONFIG_EXTENSIONS = List.of(".conflist", ".conf", ".json");
    static final String USAGE = """
            usage: enilbctl cni install|uninstall [--bin-dir DIR] [--net-dir DIR] [--socket PATH]
              install    copy enilb-cni and its runtime to DIR/enilb and DIR/enilb-jre, and chain
                         {"type":"enilb"} after the first plugin of the node's CNI configuration
              uninstall  take enilb out of the configuration (restoring the original) and remove
                         the plugin and its runtime
            --bin-dir    CNI plugin directory (default /opt/cni/bin)
            --net-dir    CNI configuration directory (default /etc/cni/net.d)
            --socket     enilbd's cni.socket, written into the chain when not /run/enilb/cni.sock
            """;

    private final PrintStream out;
    private final Path home;

    /** @param home the distribution whose bin/enilb-cni and bin/enilb-jre are installed */
    CniInstall(PrintStream out, Path home) {
        this.out = out;
        this.home = home;
    }

    /** A problem that stops the command; nothing more is changed. */
    static final class Failed extends Exception {
        Failed(String message) {
            super(message, null, false, false);
        }
    }

    void install(Path binDir, Path netDir, String socket) throws Failed, IOException {
        Path config = activeConfig(netDir);
        String text = Files.readString(config);
        JsonObject before;
        JsonObject chained;
        try {
            before = CniChain.parse(config.getFileName().toString(), text);
            chained = CniChain.withEnilb(config.getFileName().toString(), before, socket);
        } catch (CniChain.Refused e) {
            throw new Failed(e.getMessage());
        }
        // the plugin first: a chain naming enilb must never exist without the plugin
        installPlugin(binDir);
        if (chained.equals(before)) {
            out.println("enilb: " + config.getFileName() + " already chains enilb");
            return;
        }
        String name = config.getFileName().toString();
        Path target = name.endsWith(".conf") ? netDir.resolve(name.substring(0, name.length() - 5) + ".conflist") : config;
        Path backup = backupOf(config);
        Files.writeString(backup, text);
        writeAtomically(target, chained.encodePrettily() + "\n");
        if (!target.equals(config)) {
            // the .conf would still come first (it sorts before the .conflist); its backup keeps it
            Files.delete(config);
        }
        out.println("enilb: chained into " + target.getFileName() + " after " + firstType(chained)
                + " (the original is " + backup.getFileName() + ")");
    }

    void uninstall(Path binDir, Path netDir) throws Failed, IOException {
        Optional<Path> found = firstConfig(netDir);
        if (found.isPresent()) {
            Path config = found.get();
            String name = config.getFileName().toString();
            JsonObject now;
            try {
                now = CniChain.parse(name, Files.readString(config));
            } catch (CniChain.Refused e) {
                throw new Failed(e.getMessage());
            }
            if (CniChain.chainsEnilb(now)) {
                restore(netDir, config, now);
            } else {
                out.println("enilb: " + name + " does not chain enilb");
            }
        }
        Path link = binDir.resolve(RUNTIME);
        Optional<Path> runtime = installedRuntime(binDir);
        Files.deleteIfExists(binDir.resolve(PLUGIN));
        Files.deleteIfExists(link);
        if (runtime.isPresent()) {
            deleteTree(runtime.get());
        }
        out.println("enilb: removed " + binDir.resolve(PLUGIN) + " and its runtime");
    }

    /** Takes enilb out of {@code config}: the backup byte for byte when it is what we chained, else by JSON. */
    private void restore(Path netDir, Path config, JsonObject now) throws Failed, IOException {
        String name = config.getFileName().toString();
        JsonObject without = CniChain.withoutEnilb(now);
        Optional<Path> backup = backupFor(netDir, name);
        if (backup.isPresent()) {
            String original = Files.readString(backup.get());
            String originalName = backup.get().getFileName().toString();
            originalName = originalName.substring(1, originalName.length() - BACKUP_SUFFIX.length());
            try {
                JsonObject originalJson = CniChain.parse(originalName, original);
                if (CniChain.withEnilb(originalName, originalJson, socketOf(now)).equals(now)) {
                    writeAtomically(netDir.resolve(originalName), original);
                    if (!originalName.equals(name)) {
                        Files.delete(config);
                    }
                    Files.delete(backup.get());
                    out.println("enilb: restored " + originalName);
                    return;
                }
            } catch (CniChain.Refused changedSince) {
                // fall through: take enilb out of what is there now
            }
            Files.delete(backup.get());
        }
        writeAtomically(config, without.encodePrettily() + "\n");
        out.println("enilb: removed enilb from " + name + " (changed since install; other edits kept)");
    }

    private static String socketOf(JsonObject chained) {
        for (Object plugin : chained.getJsonArray("plugins", new JsonArray())) {
            if (plugin instanceof JsonObject p && CniChain.TYPE.equals(p.getValue("type"))) {
                return p.getString("socket");
            }
        }
        return null;
    }

    private static String firstType(JsonObject conflist) {
        return String.valueOf(conflist.getJsonArray("plugins").getJsonObject(0).getValue("type"));
    }

    /** The file the runtime uses: the lexically first configuration file (libcni's ConfFiles order). */
    static Optional<Path> firstConfig(Path netDir) throws IOException {
        if (!Files.isDirectory(netDir)) {
            return Optional.empty();
        }
        try (Stream<Path> files = Files.list(netDir)) {
            return files.filter(f -> CONFIG_EXTENSIONS.stream().anyMatch(ext -> f.getFileName().toString().endsWith(ext)))
                    .filter(Files::isRegularFile)
                    .min((a, b) -> a.getFileName().toString().compareTo(b.getFileName().toString()));
        }
    }

    private static Path activeConfig(Path netDir) throws Failed, IOException {
        return firstConfig(netDir).orElseThrow(() -> new Failed("no CNI configuration in " + netDir
                + " yet (is the node's network plugin installed?)"));
    }

    private static Path backupOf(Path config) {
        return config.resolveSibling("." + config.getFileName() + BACKUP_SUFFIX);
    }

    /** The backup of {@code name} or, for a conflist made from a .conf, of that .conf. */
    private static Optional<Path> backupFor(Path netDir, String name) {
        Path same = netDir.resolve("." + name + BACKUP_SUFFIX);
        if (Files.exists(same)) {
            return Optional.of(same);
        }
        if (name.endsWith(".conflist")) {
            Path conf = netDir.resolve("." + name.substring(0, name.length() - ".conflist".length()) + ".conf"
                    + BACKUP_SUFFIX);
            if (Files.exists(conf)) {
                return Optional.of(conf);
            }
        }
        return Optional.empty();
    }

    /** BIN/enilb (replaced by rename) and BIN/enilb-jre -> .enilb-jre-HASH (a new one swapped in by rename). */
    private void installPlugin(Path binDir) throws Failed, IOException {
        Path plugin = home.resolve("bin/enilb-cni");
        Path runtime = home.resolve("bin/" + RUNTIME);
        if (!Files.isRegularFile(plugin)) {
            throw new Failed("no plugin at " + plugin);
        }
        Files.createDirectories(binDir);
        Path tmp = binDir.resolve(".enilb.tmp");
        Files.copy(plugin, tmp, StandardCopyOption.REPLACE_EXISTING);
        Files.setPosixFilePermissions(tmp, PosixFilePermissions.fromString("rwxr-xr-x"));
        Files.move(tmp, binDir.resolve(PLUGIN), StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        if (!Files.isDirectory(runtime)) {
            out.println("enilb: no runtime at " + runtime + "; the plugin will use the node's java");
            return;
        }
        String versioned = "." + RUNTIME + "-" + treeHash(runtime).substring(0, 16);
        Path link = binDir.resolve(RUNTIME);
        Path previous = installedRuntime(binDir).orElse(null);
        if (!Files.isDirectory(binDir.resolve(versioned))) {
            Path staging = binDir.resolve(versioned + ".tmp");
            deleteTree(staging);
            copyTree(runtime, staging);
            Files.move(staging, binDir.resolve(versioned), StandardCopyOption.ATOMIC_MOVE);
        }
        Path newLink = binDir.resolve("." + RUNTIME + ".link.tmp");
        Files.deleteIfExists(newLink);
        Files.createSymbolicLink(newLink, Path.of(versioned));
        if (Files.isDirectory(link, LinkOption.NOFOLLOW_LINKS)) {
            deleteTree(link); // a plain directory from an older install
        }
        Files.move(newLink, link, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        if (previous != null && !previous.equals(binDir.resolve(versioned))) {
            deleteTree(previous); // a running plugin keeps its open and mapped files
        }
        out.println("enilb: installed " + binDir.resolve(PLUGIN) + " with its runtime " + versioned);
    }

    /**
     * The directory BIN/enilb-jre links to, if it is one of ours (.enilb-jre-HASH in BIN): a link
     * that points anywhere else is never followed for deletion.
     */
    private static Optional<Path> installedRuntime(Path binDir) throws IOException {
        Path link = binDir.resolve(RUNTIME);
        if (!Files.isSymbolicLink(link)) {
            return Optional.empty();
        }
        Path target = Files.readSymbolicLink(link);
        boolean ours = target.getNameCount() == 1 && !target.isAbsolute()
                && target.getFileName().toString().startsWith("." + RUNTIME + "-");
        return ours ? Optional.of(binDir.resolve(target)) : Optional.empty();
    }

    private static void writeAtomically(Path target, String text) throws IOException {
        // not a configuration extension: the runtime ignores the file until the rename
        Path tmp = target.resolveSibling("." + target.getFileName() + ".enilb-tmp");
        Files.writeString(tmp, text, StandardCharsets.UTF_8);
        Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    }

    static String treeHash(Path dir) throws IOException {
        MessageDigest sha;
        try {
            sha = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
        try (Stream<Path> walk = Files.walk(dir)) {
            for (Path f : walk.filter(Files::isRegularFile).sorted().toList()) {
                sha.update(dir.relativize(f).toString().getBytes(StandardCharsets.UTF_8));
                sha.update((byte) 0);
                try (InputStream in = Files.newInputStream(f)) {
                    byte[] buf = new byte[1 << 16];
                    for (int n; (n = in.read(buf)) > 0; ) {
                        sha.update(buf, 0, n);
                    }
                }
            }
        }
        return HexFormat.of().formatHex(sha.digest());
    }

    private static void copyTree(Path from, Path to) throws IOException {
        try (Stream<Path> walk = Files.walk(from)) {
            for (Path f : walk.sorted().toList()) {
                Path dest = to.resolve(from.relativize(f).toString());
                if (Files.isDirectory(f)) {
                    Files.createDirectories(dest);
                } else {
                    try {
                        Files.copy(f, dest, StandardCopyOption.COPY_ATTRIBUTES);
                    } catch (FileAlreadyExistsException e) {
                        throw new IOException(dest + " exists already", e);
                    }
                }
            }
        }
    }

    private static void deleteTree(Path dir) throws IOException {
        if (!Files.exists(dir, LinkOption.NOFOLLOW_LINKS)) {
            return;
        }
        try (Stream<Path> walk = Files.walk(dir)) {
            for (Path f : walk.sorted((a, b) -> b.compareTo(a)).toList()) {
                Files.delete(f);
            }
        }
    }
}

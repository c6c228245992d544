package io.enilb.attach;

import io.enilb.bus.PodAttachment;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;

/**
 * The attachments that survive a restart: one JSON file per pod interface in
 * {@code <state.dir>/pods/}, named {@code <containerId>@<ifName>.json} (a container id has no '@',
 * so the name is unambiguous). Files are replaced atomically (write a temporary file, rename), so
 * a daemon killed at any moment finds either the old or the new record. No fsync: the records
 * only have to outlive the daemon, not the machine; after a reboot every pod namespace they name
 * is gone anyway, and an fsync per pod start costs milliseconds on a busy disk.
 * All methods block: call them from a worker.
 */
final class AttachmentStore {
    private static final Logger LOG = LoggerFactory.getLogger(AttachmentStore.class);
    private static final String SUFFIX = ".json";
    private static final String TEMP_SUFFIX = ".tmp";

    private final Path dir;

    AttachmentStore(Path stateDir) {
        this.dir = stateDir.resolve("pods");
    }

    Path dir() {
        return dir;
    }

    /** Every stored attachment; unreadable files are logged and left for an operator. */
    List<PodAttachment> loadAll() throws IOException {
        Files.createDirectories(dir);
        List<PodAttachment> loaded = new ArrayList<>();
        try (DirectoryStream<Path> files = Files.newDirectoryStream(dir)) {
            for (Path file : files) {
                String name = file.getFileName().toString();
                if (name.endsWith(TEMP_SUFFIX)) {
                    Files.deleteIfExists(file); // a write interrupted before its rename
                } else if (name.endsWith(SUFFIX)) {
                    try {
                        loaded.add(fromJson(new JsonObject(Files.readString(file))));
                    } catch (IOException | RuntimeException e) {
                        LOG.warn("state file {} is unreadable, ignored: {}", file, e.getMessage());
                    }
                }
            }
        }
        return loaded;
    }

    void save(PodAttachment attachment) throws IOException {
        Files.createDirectories(dir);
        Path target = file(attachment.containerId(), attachment.ifName());
        Path temp = target.resolveSibling(target.getFileName() + TEMP_SUFFIX);
        byte[] bytes = toJson(attachment).encodePrettily().getBytes(java.nio.charset.StandardCharsets.UTF_8);
        try (FileChannel out = FileChannel.open(temp, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.TRUNCATE_EXISTING)) {
            ByteBuffer buffer = ByteBuffer.wrap(bytes);
            while (buffer.hasRemaining()) {
                out.write(buffer);
            }
        }
        Files.move(temp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    }

    void delete(String containerId, String ifName) throws IOException {
        Files.deleteIfExists(file(containerId, ifName));
    }

    private Path file(String containerId, String ifName) {
        return dir.resolve(containerId + "@" + ifName + SUFFIX);
    }

    static JsonObject toJson(PodAttachment a) {
        return new JsonObject()
                .put("containerId", a.containerId())
                .put("ifName", a.ifName())
                .put("netns", a.netns())
                .put("ips", new JsonArray(new ArrayList<>(a.ips())));
    }

    static PodAttachment fromJson(JsonObject json) {
        List<String> ips = new ArrayList<>();
        JsonArray array = json.getJsonArray("ips", new JsonArray());
        for (int i = 0; i < array.size(); i++) {
            ips.add(array.getString(i));
        }
        String containerId = json.getString("containerId");
        String ifName = json.getString("ifName");
        String netns = json.getString("netns");
        if (containerId == null || ifName == null || netns == null) {
            throw new IllegalArgumentException("containerId, ifName and netns are required");
        }
        return new PodAttachment(containerId, ifName, netns, ips);
    }
}

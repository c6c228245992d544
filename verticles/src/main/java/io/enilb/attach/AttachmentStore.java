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
 * is gone anyway, and an fsync per pod start costs milliseconds on a busy disk. Each record also
 * keeps the namespace cookie the pod's addresses are registered under and the boot it is from
 * (cookies are only unique within one boot), so that a pod gone while the daemon was down can
 * still be forgotten.
 * All methods block: call them from a worker.
 */
final class AttachmentStore {
    private static final Logger LOG = LoggerFactory.getLogger(AttachmentStore.class);
    private static final String SUFFIX = ".json";
    private static final String TEMP_SUFFIX = ".tmp";

    private static final Path BOOT_ID = Path.of("/proc/sys/kernel/random/boot_id");
    private static volatile String bootId;

    private final Path dir;

    /** A record as stored: the attachment, its namespace cookie (0: none) and the boot it is from. */
    record Stored(PodAttachment pod, long netnsCookie, String bootId) {
    }

    AttachmentStore(Path stateDir) {
        this.dir = stateDir.resolve("pods");
    }

    Path dir() {
        return dir;
    }

    /** Every stored attachment; unreadable files are logged and left for an operator. */
    List<Stored> loadAll() throws IOException {
        Files.createDirectories(dir);
        List<Stored> loaded = new ArrayList<>();
        try (DirectoryStream<Path> files = Files.newDirectoryStream(dir)) {
            for (Path file : files) {
                String name = file.getFileName().toString();
                if (name.endsWith(TEMP_SUFFIX)) {
                    Files.deleteIfExists(file); // a write interrupted before its rename
                } else if (name.endsWith(SUFFIX)) {
                    try {
                        JsonObject json = new JsonObject(Files.readString(file));
                        loaded.add(new Stored(fromJson(json), json.getLong("netnsCookie", 0L),
                                json.getString("bootId", "")));
                    } catch (IOException | RuntimeException e) {
                        LOG.warn("state file {} is unreadable, ignored: {}", file, e.getMessage());
                    }
                }
            }
        }
        return loaded;
    }

    void save(PodAttachment attachment, long netnsCookie) throws IOException {
        Files.createDirectories(dir);
        Path target = file(attachment.containerId(), attachment.ifName());
        Path temp = target.resolveSibling(target.getFileName() + TEMP_SUFFIX);
        JsonObject json = toJson(attachment).put("netnsCookie", netnsCookie).put("bootId", currentBootId());
        byte[] bytes = json.encodePrettily().getBytes(java.nio.charset.StandardCharsets.UTF_8);
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

    /** This boot's id (the kernel's random boot_id); empty when it cannot be read. */
    static String currentBootId() {
        String id = bootId;
        if (id == null) {
            try {
                id = Files.readString(BOOT_ID).trim();
            } catch (IOException e) {
                id = "";
            }
            bootId = id;
        }
        return id;
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

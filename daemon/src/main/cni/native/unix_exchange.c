// enilb-cni's one request to enilbd over a unix socket, in C: the JDK's unix-domain SocketChannel
// costs a plugin run about a fifth of its CPU time before the first byte is sent (the first lambda
// of the process, the selector provider, the security providers for a random it never uses, the
// InetAddress machinery), all of it interpreted. See io.enilb.cni.plugin.UnixExchange.
#include <errno.h>
#include <jni.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static void throw_io(JNIEnv *env, const char *class_name, const char *message)
{
	jclass class = (*env)->FindClass(env, class_name);
	if (class != NULL)
		(*env)->ThrowNew(env, class, message);
}

// Connects to path (a byte array, no NUL), sends request, shuts down its output and returns the
// whole reply. java.net.ConnectException: nothing was sent. java.io.IOException: the connection
// failed before any reply arrived. A failure after some of the reply returns what arrived; a
// failed send still reads (the daemon may have answered and closed already, refusing a request).
JNIEXPORT jbyteArray JNICALL Java_io_enilb_cni_plugin_UnixExchange_nativeExchange(JNIEnv *env, jclass class,
									  jbyteArray path, jbyteArray request)
{
	(void)class;
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	jsize path_len = (*env)->GetArrayLength(env, path);
	if (path_len <= 0 || (size_t)path_len >= sizeof(addr.sun_path)) {
		throw_io(env, "java/net/ConnectException", "unix socket path empty or too long");
		return NULL;
	}
	(*env)->GetByteArrayRegion(env, path, 0, path_len, (jbyte *)addr.sun_path);
	// a path with a NUL would name another socket (a leading one: the abstract namespace)
	if (memchr(addr.sun_path, 0, path_len) != NULL) {
		throw_io(env, "java/net/ConnectException", "unix socket path contains a NUL");
		return NULL;
	}

	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		throw_io(env, "java/net/ConnectException", strerror(errno));
		return NULL;
	}
	int rc;
	do {
		rc = connect(fd, (struct sockaddr *)&addr, sizeof(addr));
	} while (rc < 0 && errno == EINTR);
	if (rc < 0) {
		int err = errno;
		close(fd);
		throw_io(env, "java/net/ConnectException", strerror(err));
		return NULL;
	}

	jsize request_len = (*env)->GetArrayLength(env, request);
	jbyte *bytes = (*env)->GetByteArrayElements(env, request, NULL);
	if (bytes == NULL) { // OutOfMemoryError pending
		close(fd);
		return NULL;
	}
	for (jsize sent = 0; sent < request_len;) {
		// MSG_NOSIGNAL: a daemon that closed early is an error to read about, not a SIGPIPE
		ssize_t n = send(fd, bytes + sent, request_len - sent, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		sent += n;
	}
	(*env)->ReleaseByteArrayElements(env, request, bytes, JNI_ABORT);
	shutdown(fd, SHUT_WR);

	size_t capacity = 8192, len = 0;
	char *reply = malloc(capacity);
	int read_error = 0;
	while (reply != NULL) {
		if (len == capacity) {
			char *bigger = realloc(reply, capacity * 2);
			if (bigger == NULL) {
				free(reply);
				reply = NULL;
				break;
			}
			reply = bigger;
			capacity *= 2;
		}
		ssize_t n = read(fd, reply + len, capacity - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			read_error = errno;
		if (n <= 0)
			break;
		len += n;
	}
	close(fd);
	if (reply == NULL) {
		throw_io(env, "java/lang/OutOfMemoryError", "enilb daemon reply");
		return NULL;
	}
	if (len == 0 && read_error != 0) {
		free(reply);
		throw_io(env, "java/io/IOException", strerror(read_error));
		return NULL;
	}
	jbyteArray result = (*env)->NewByteArray(env, (jsize)len);
	if (result != NULL)
		(*env)->SetByteArrayRegion(env, result, 0, (jsize)len, (jbyte *)reply);
	free(reply);
	return result;
}

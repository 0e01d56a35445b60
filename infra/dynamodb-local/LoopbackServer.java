/*
 * DynamoDB Local on 127.0.0.1 only.
 *
 * DynamoDBLocal.jar's own main listens on every interface and has no option to choose one. This starts
 * the same server, built by the jar's own ServerRunner from the same command-line options, after
 * pointing its Jetty connector at the loopback address. Telemetry is never configured, so none is sent.
 *
 * Run in source-file mode with the jar on the class path (its manifest brings DynamoDBLocal_lib/):
 *   java -Djava.library.path=<lib> -cp <DynamoDBLocal.jar> LoopbackServer.java -inMemory -port N
 */

import java.lang.reflect.Field;

import org.eclipse.jetty.server.Connector;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;

import software.amazon.dynamodb.services.local.main.ServerRunner;
import software.amazon.dynamodb.services.local.server.DynamoDBProxyServer;

public final class LoopbackServer {
    private static final String HOST = "127.0.0.1";

    public static void main(String[] args) throws Exception {
        DynamoDBProxyServer proxy = ServerRunner.createServerFromCommandLineArgs(args);
        Field field = DynamoDBProxyServer.class.getDeclaredField("server");
        field.setAccessible(true);
        Server server = (Server) field.get(proxy);
        for (Connector connector : server.getConnectors()) {
            ((ServerConnector) connector).setHost(HOST);
        }
        proxy.start();
        System.out.println("DynamoDB Local listening on " + HOST);
        proxy.join();
    }
}

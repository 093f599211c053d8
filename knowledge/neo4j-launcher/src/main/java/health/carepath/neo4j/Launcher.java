package health.carepath.neo4j;

import java.nio.file.Path;
import java.util.concurrent.CountDownLatch;

import org.neo4j.configuration.GraphDatabaseSettings;
import org.neo4j.configuration.connectors.BoltConnector;
import org.neo4j.configuration.connectors.HttpConnector;
import org.neo4j.configuration.helpers.SocketAddress;
import org.neo4j.dbms.api.DatabaseManagementService;
import org.neo4j.dbms.api.DatabaseManagementServiceBuilder;
import org.neo4j.graphdb.GraphDatabaseService;

/**
 * Runs a Neo4j Community DBMS in this JVM with Bolt on a loopback address.
 *
 * Settings come from the environment:
 *   NEO4J_HOME          data folder (default ./.data/neo4j)
 *   NEO4J_BOLT_ADDRESS  host:port for Bolt (default 127.0.0.1:7687)
 *
 * Authentication is off: the connector only listens on loopback and this
 * launcher exists for local development and tests. Production points
 * NEO4J_URI at a Neo4j server with authentication instead.
 */
public final class Launcher {
    private Launcher() {}

    public static void main(String[] args) throws InterruptedException {
        Path home = Path.of(env("NEO4J_HOME", ".data/neo4j")).toAbsolutePath();
        String bolt = env("NEO4J_BOLT_ADDRESS", "127.0.0.1:7687");
        int colon = bolt.lastIndexOf(':');
        SocketAddress boltAddress = new SocketAddress(bolt.substring(0, colon), Integer.parseInt(bolt.substring(colon + 1)));

        DatabaseManagementService dbms = new DatabaseManagementServiceBuilder(home)
                .setConfig(BoltConnector.enabled, true)
                .setConfig(BoltConnector.listen_address, boltAddress)
                .setConfig(BoltConnector.advertised_address, boltAddress)
                .setConfig(HttpConnector.enabled, false)
                .setConfig(GraphDatabaseSettings.auth_enabled, false)
                .setConfig(GraphDatabaseSettings.pagecache_memory, 128L * 1024 * 1024)
                .build();

        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            System.out.println("neo4j-launcher: shutting down");
            dbms.shutdown();
            stopped.countDown();
        }, "neo4j-shutdown"));

        GraphDatabaseService db = dbms.database(GraphDatabaseSettings.DEFAULT_DATABASE_NAME);
        if (!db.isAvailable(60_000)) {
            System.err.println("neo4j-launcher: database did not become available within 60s");
            System.exit(1);
        }
        System.out.println("neo4j-launcher: bolt ready on " + bolt + " (data in " + home + ")");
        stopped.await();
    }

    private static String env(String name, String fallback) {
        String value = System.getenv(name);
        return value == null || value.isBlank() ? fallback : value;
    }
}

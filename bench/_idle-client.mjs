// Opens N idle connections to a port, prints "connected", and holds them
// until its stdin closes.
import { connect } from "node:net";

const [port, count] = process.argv.slice(2).map(Number);
const sockets = [];
for (let i = 0; i < count; i++) {
  await new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1", resolve);
    socket.on("error", reject);
    sockets.push(socket);
  });
}
process.stdout.write("connected\n");
process.stdin.on("end", () => {
  for (const socket of sockets) socket.destroy();
});
process.stdin.resume();

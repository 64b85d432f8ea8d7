// restore.test.ts's seed-topology restore (a↔b↔c, CA on a and b) over the system ssh client
// (ssh.transport: openssh): the same scenario must pass on both transports.
process.env.IPA_FLEET_LAB_TRANSPORT = 'openssh';
await import('./restore.test.js');

// Reads a Firebreak status page with the `statuspage.io` client from npm, unchanged but for
// its API URL, and prints what it read as JSON for the Rust test to check.
// Usage: node statuspage_client.mjs BASE_URL   (the page's own listener, e.g. http://127.0.0.1:8081)
import pkg from 'statuspage.io';

const { Statuspage } = pkg;
const [base] = process.argv.slice(2);
const client = new Statuspage('firebreak');
client.setApiUrl(base);
const summary = await client.api.getSummary();
const status = await client.api.getStatus();
const components = await client.api.getComponents();
const unresolved = await client.api.incidents.getUnresolved();
const upcoming = await client.api.scheduledMaintenances.getUpcoming();
const all = await client.api.scheduledMaintenances.getAll();
console.log(JSON.stringify({
  indicator: status.status.indicator,
  description: status.status.description,
  components: components.components.map((c) => ({ name: c.name, status: c.status, group: c.group })),
  unresolved: unresolved.incidents.map((i) => ({ name: i.name, status: i.status, impact: i.impact, updates: i.incident_updates.length })),
  summary_maintenances: summary.scheduled_maintenances.map((m) => m.name),
  upcoming: upcoming.scheduled_maintenances.map((m) => ({ name: m.name, status: m.status, impact: m.impact, scheduled_for: m.scheduled_for, scheduled_until: m.scheduled_until, components: m.components.map((c) => c.name) })),
  all_maintenances: all.scheduled_maintenances.length,
}));

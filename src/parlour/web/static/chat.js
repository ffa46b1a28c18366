// Entry point of the chat page (see chat/app.js).
import { App } from "./chat/app.js";

const root = document.getElementById("chat");
if (root) new App(root).start();

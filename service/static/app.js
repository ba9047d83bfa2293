// ganserve's page: plain ES modules, no build step, no dependencies, one concept a file.
// Every URL is relative to the page, so the page works behind a path prefix.

import { setupGenerate } from "./generate.js";
import { setupInterpolate } from "./interpolate.js";
import { setupKey } from "./key.js";
import { loadModels, setupModels } from "./models.js";
import { setupPsi } from "./panels.js";
import { setupSelected } from "./tiles.js";
import { setupTranslate } from "./translate.js";

setupKey(() => loadModels());
setupModels();
setupGenerate();
setupInterpolate();
setupPsi();
setupSelected();
setupTranslate();
loadModels();

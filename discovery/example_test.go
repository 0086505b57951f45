package discovery_test

import (
	"fmt"

	"github.com/sifely2mqtt/sifely2mqtt/discovery"
)

func ExampleTopic() {
	fmt.Println(discovery.Topic("homeassistant", 7100000))
	// Output: homeassistant/device/sifely_7100000/config
}
